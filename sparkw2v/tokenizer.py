"""Turning lines of text into sentences of tokens.

One tokenizer serves both the vocabulary count and the corpus encoding, so the
two always agree. It never holds a whole long line as tokens at once: a line is
split in segments of about :data:`SEGMENT_CHARS` characters, cut where the
separator pattern matches, and sentences longer than ``max_sentence_length``
are yielded in pieces. A single 100 MB line therefore costs memory for one
segment's tokens, not for the line's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

SEGMENT_CHARS = 1 << 20
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TokenizerSpec:
    """How to tokenize: lower-case or not, separator regex (None: whitespace), piece length."""

    lowercase: bool = True
    pattern: str | None = None
    max_sentence_length: int = 10_000

    @classmethod
    def from_config(cls, cfg) -> "TokenizerSpec":
        return cls(cfg.lowercase, cfg.token_pattern, cfg.max_sentence_length)


def _segments(text: str, separator: re.Pattern) -> Iterator[str]:
    """Pieces of ``text`` of about SEGMENT_CHARS, each ending at a separator match."""
    start, n = 0, len(text)
    while n - start > SEGMENT_CHARS:
        m = separator.search(text, start + SEGMENT_CHARS)
        if m is None:
            break
        yield text[start:m.start()]
        start = m.end()
    yield text[start:]


def split_text(text: str, spec: TokenizerSpec) -> Iterator[list[str]]:
    """Tokens of one line of text, in lists of at most ``spec.max_sentence_length``."""
    separator = _WHITESPACE if spec.pattern is None else re.compile(spec.pattern)
    limit = spec.max_sentence_length
    pending: list[str] = []
    for segment in _segments(text, separator):
        if spec.lowercase:
            segment = segment.lower()
        tokens = segment.split() if spec.pattern is None else [t for t in separator.split(segment) if t]
        if pending:
            tokens = pending + tokens
        full = len(tokens) - len(tokens) % limit
        for i in range(0, full, limit):
            yield tokens[i:i + limit]
        pending = tokens[full:]
    if pending:
        yield pending


def split_tokens(tokens: list[str], spec: TokenizerSpec) -> Iterator[list[str]]:
    """A pre-tokenized row (array<string>), cut into pieces; null and empty tokens dropped."""
    tokens = [t for t in tokens if t]
    limit = spec.max_sentence_length
    for i in range(0, len(tokens), limit):
        yield tokens[i:i + limit]


def sentences(rows: Iterable, spec: TokenizerSpec, pretokenized: bool) -> Iterator[list[str]]:
    """Sentences from an iterator of rows' single values (text or token lists); nulls skipped."""
    split = split_tokens if pretokenized else split_text
    for value in rows:
        if value:
            yield from split(value, spec)
