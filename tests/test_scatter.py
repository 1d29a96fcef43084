"""Row scatter-adds and segment sums without Spark: scipy's path and NumPy's agree with np.add.at."""

import numpy as np
import pytest

from sparkw2v import scatter
from sparkw2v.scatter import ScatterPlan, scatter_add, segment_sums


@pytest.mark.parametrize("vocab", [4, 400, 70000])
@pytest.mark.parametrize("with_scipy", [True, False], ids=["scipy", "numpy-only"])
def test_scatter_add_paths_agree_with_add_at_and_cap_repeats(vocab, with_scipy, monkeypatch):
    """scipy's in-place adds and the NumPy fallback both match np.add.at; with a cap, a row
    repeated n > cap times gets cap/n of its summed update."""
    if not with_scipy:
        monkeypatch.setattr(scatter, "_coo_matmat_dense", None)
    rng = np.random.default_rng(0)
    rows = np.array([2, 0, 2, 2, 3, 2, 2])
    values = rng.normal(size=(7, 3)).astype(np.float32)
    target = rng.normal(size=(vocab, 3)).astype(np.float32)
    expected = target.copy()
    np.add.at(expected, rows, values)
    got = target.copy()
    counts = np.zeros(vocab, np.int64)
    scatter_add(got, rows, values, counts=counts)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_array_equal(counts, np.bincount(rows, minlength=vocab))
    capped = target.copy()
    scatter_add(capped, rows, values, cap=2)
    np.testing.assert_allclose(capped[2], target[2] + values[rows == 2].sum(0) * 2 / 5, rtol=1e-5)
    np.testing.assert_allclose(capped[0], target[0] + values[1], rtol=1e-6)


def test_scatter_add_sums_repeated_rows():
    target = np.zeros((4, 2), np.float32)
    rows = np.array([2, 0, 2, 2, 3])
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    scatter_add(target, rows, values)
    np.testing.assert_array_equal(target, [[2, 3], [0, 0], [0 + 4 + 6, 1 + 5 + 7], [8, 9]])
    scatter_add(target, np.array([1, 1]), values, value_rows=np.array([4, 4]))
    np.testing.assert_array_equal(target[1], [16, 18])


@pytest.mark.parametrize("vocab", [6, 70000])
def test_planned_steps_match_one_scatter_add_per_step(vocab):
    """Several steps planned together add exactly what one scatter_add per step adds (value
    rows, scales, caps and counts per step), and dropped entries add nothing but still count."""
    rng = np.random.default_rng(4)
    steps = [rng.integers(0, 6, size) for size in (9, 0, 5, 12)]
    value_rows = [rng.permutation(r.size) for r in steps]
    values = [rng.normal(size=(r.size, 3)).astype(np.float32) for r in steps]
    scales = [rng.normal(size=r.size).astype(np.float32) for r in steps]
    start = rng.normal(size=(vocab, 3)).astype(np.float32)
    expected, expected_counts = start.copy(), np.zeros(vocab, np.int64)
    for r, vr, v, sc in zip(steps, value_rows, values, scales):
        if r.size:
            scatter_add(expected, r, v, value_rows=vr, cap=2, counts=expected_counts, scale=sc)
    got, counts = start.copy(), np.zeros(vocab, np.int64)
    plan = ScatterPlan(vocab, steps, value_rows, cap=2, counts=counts)
    for i, (v, sc) in enumerate(zip(values, scales)):
        plan.apply(i, got, v, sc)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(counts, expected_counts)

    dropped = ScatterPlan(vocab, [np.array([1, 2, 1])], drop=np.array([2]), counts=counts)
    target = np.zeros((vocab, 1), np.float32)
    dropped.apply(0, target, np.array([[1.0], [2.0], [4.0]], np.float32))
    assert target[1, 0] == 1.0 and target[2, 0] == 2.0
    assert counts[1] == expected_counts[1] + 2

    # The same steps given as one flat array with their sizes plan the same scatter-adds.
    flat = ScatterPlan(vocab, np.concatenate(steps), np.concatenate(value_rows), cap=2,
                       sizes=np.array([r.size for r in steps]))
    for name in ("rows", "cols", "local", "data", "entry_start"):
        np.testing.assert_array_equal(getattr(flat, name), getattr(plan, name))
    with pytest.raises(ValueError, match="steps of 4 entries in all, but 5 rows"):
        ScatterPlan(vocab, np.arange(5), sizes=np.array([2, 2]))
    assert ScatterPlan(vocab, []).steps == 0


@pytest.mark.parametrize("with_scipy", [True, False], ids=["scipy", "numpy-only"])
def test_segment_sums_are_weighted_sums_of_consecutive_segments(with_scipy, monkeypatch):
    if not with_scipy:
        monkeypatch.setattr(scatter, "_csr_matvecs", None)
    rng = np.random.default_rng(1)
    source = rng.normal(size=(6, 3)).astype(np.float32)
    rows = np.array([5, 0, 5, 2, 3, 1], np.int32)
    lengths = np.array([1, 3, 2])
    weights = rng.random(6).astype(np.float32)
    expected = np.stack([(source[rows[a:b]] * weights[a:b, None]).sum(0)
                         for a, b in ((0, 1), (1, 4), (4, 6))])
    np.testing.assert_allclose(segment_sums(source, rows, lengths, weights), expected, rtol=1e-6)
    out = np.zeros((4, 3), np.float32)
    segment_sums(source, rows, lengths, weights, out=out[:3])
    np.testing.assert_allclose(out[:3], expected, rtol=1e-6)
    assert not out[3].any()
