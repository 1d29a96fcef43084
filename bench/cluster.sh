#!/usr/bin/env bash
# The README's cluster recipe, run for real on one machine: a Spark standalone master and two
# one-core workers on 127.0.0.1, started from the pip-installed pyspark; jobs/train.py and
# jobs/query.py submitted with the Python environment shipped as a packed venv (--archives);
# a check in the application's event log that both executors ran tasks. Everything started
# here is stopped by PID on exit. Loopback only.
#
#   bash bench/cluster.sh                 # uses .venv (pip install -e '.[dev]'), ~3 to 10 minutes
#
# Environment: PYTHON (driver interpreter, default .venv/bin/python), CLUSTER_PORT (7177),
# CLUSTER_TIMEOUT (seconds per spark-submit, 900), CLUSTER_LINES (lines of Brown to train on, 20000),
# CLUSTER_ENV (an env.tar.gz this script packed before: skips building it), CLUSTER_TRAIN_ARGS
# (training options, default "--num-partitions 2"; e.g. "--num-partitions 4 --concurrent-shards 4
# --strategy stratified" trains 4 shards at once across the two executors), CLUSTER_KILL_AFTER
# (seconds: train a second time and kill -9 one executor JVM that long after encoding is done;
# the run must finish with the first run's vectors bit for bit).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
PORT=${CLUSTER_PORT:-7177}
UI_PORT=$((PORT + 1000))
TIMEOUT=${CLUSTER_TIMEOUT:-900}
LINES=${CLUSTER_LINES:-20000}
WORK=$(mktemp -d /tmp/sparkw2v-cluster.XXXXXX)
SPARK_HOME=$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR=$WORK/logs
MASTER=spark://127.0.0.1:$PORT
PIDS=()

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    echo "stopped ${#PIDS[@]} processes (${PIDS[*]}); logs and event log in $WORK"
}
trap stop_all EXIT
say() { echo "[$(date +%T)] $*"; }

# 1. The executors' Python: a venv with sparkw2v and its run-time dependencies (pyspark itself
#    comes from the workers' SPARK_HOME), packed with venv-pack. Nodes need the same base
#    Python at the same path (a venv links to it).
if [ -n "${CLUSTER_ENV:-}" ]; then
    cp "$CLUSTER_ENV" "$WORK/env.tar.gz"
else
    say "building the executor environment in $WORK/env"
    "$PY" -m venv "$WORK/env"
    "$WORK/env/bin/pip" install -q numpy pyarrow 'pandas>=2.2,<3' 'scipy>=1.15'
    "$WORK/env/bin/pip" install -q --no-deps "$ROOT"
    "$(dirname "$PY")/venv-pack" -q -p "$WORK/env" -o "$WORK/env.tar.gz"
fi
say "executor environment: $(du -h "$WORK/env.tar.gz" | cut -f1) in $WORK/env.tar.gz"

# 2. The cluster.
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$PORT" \
    --webui-port "$UI_PORT" > "$WORK/master.log" 2>&1 &
PIDS+=($!)
for i in 1 2; do
    "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$MASTER" --host 127.0.0.1 \
        --cores 1 --memory 1g --webui-port $((UI_PORT + i)) --work-dir "$WORK/worker$i" \
        > "$WORK/worker$i.log" 2>&1 &
    PIDS+=($!)
done
say "master and workers started: PIDs ${PIDS[*]}"
for _ in $(seq 120); do
    alive=$(curl -s "http://127.0.0.1:$UI_PORT/json/" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("aliveworkers", 0))' 2>/dev/null || echo 0)
    [ "$alive" = 2 ] && break
    sleep 1
done
[ "$alive" = 2 ] || { echo "FAIL: $alive of 2 workers registered (see $WORK/*.log)"; exit 1; }
say "2 workers registered with $MASTER"

# 3. The jobs, as the README writes them: executors run the packed env's Python
#    (./env/bin/python inside each executor's directory), the driver an absolute path; Spark's
#    startup lines silenced with sparkw2v's log4j2 file. Plain, single-file event logs.
{ gzip -dc "$ROOT/sparkw2v/data/brown.txt.gz" || true; } | head -n "$LINES" > "$WORK/corpus.txt"  # gzip: SIGPIPE
submit() {
    PYSPARK_PYTHON=./env/bin/python PYSPARK_DRIVER_PYTHON="$PY" timeout "$TIMEOUT" \
        "$SPARK_HOME/bin/spark-submit" --master "$MASTER" --archives "$WORK/env.tar.gz#env" \
        --executor-memory 768m --conf spark.driver.host=127.0.0.1 --conf spark.ui.enabled=false \
        --driver-java-options "-Dlog4j2.configurationFile=$QUIET" \
        --conf spark.eventLog.enabled=true --conf "spark.eventLog.dir=file://$WORK/events" \
        --conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false "$@"
}
mkdir -p "$WORK/events"
QUIET=$("$PY" -c 'import sparkw2v.session as s; print(s.QUIET_LOG4J)')
started=$(date +%s)
say "submitting jobs/train.py"
# shellcheck disable=SC2086  # CLUSTER_TRAIN_ARGS is a list of options
submit "$ROOT/jobs/train.py" --input "$WORK/corpus.txt" --output "$WORK/model" --epochs 2 \
    ${CLUSTER_TRAIN_ARGS:---num-partitions 2} --show money,city 2>&1 | tee "$WORK/train.out"
say "train took $(( $(date +%s) - started ))s (2 epochs check the mechanics, not quality: on 20,000 lines the neighbours' near-1.00 similarities are an undertrained model's, as one shard's on local[2])"
if [ -n "${CLUSTER_KILL_AFTER:-}" ]; then
    # The same training again, one executor JVM killed mid-training: Spark replaces the executor,
    # recomputes the lost blocks and retries the failed stage (a barrier stage when the shards'
    # tasks hand blocks to each other); the published vectors must equal the first run's.
    started=$(date +%s)
    say "submitting jobs/train.py again; one executor is killed ${CLUSTER_KILL_AFTER}s after encoding"
    : > "$WORK/killed.out"
    (
        for _ in $(seq 3000); do grep -q "encoding done" "$WORK/killed.out" && break; sleep 0.2; done
        sleep "$CLUSTER_KILL_AFTER"
        victim=$(pgrep -P "${PIDS[1]}" -f CoarseGrainedExecutorBackend | head -1 || true)  # worker 1's executor
        [ -n "$victim" ] && kill -9 "$victim" && say "killed executor JVM $victim"
    ) &
    killer=$!
    # shellcheck disable=SC2086
    submit "$ROOT/jobs/train.py" --input "$WORK/corpus.txt" --output "$WORK/model-killed" --epochs 2 \
        ${CLUSTER_TRAIN_ARGS:---num-partitions 2} 2>&1 | tee "$WORK/killed.out"
    wait "$killer" || true
    say "train with a killed executor took $(( $(date +%s) - started ))s"
    "$PY" - "$WORK" <<'EOF'
import glob, sys
import pyarrow.parquet as pq

work = sys.argv[1]
last = sorted(glob.glob(f"{work}/events/*"))[-1]
lost = sum(1 for line in open(last) if '"ExecutorLostFailure"' in line)
tables = [pq.read_table(sorted(glob.glob(f"{work}/{m}/versions/*/vectors"))[-1]) for m in ("model", "model-killed")]
same = tables[0].equals(tables[1])
print(f"{'ok' if lost and same else 'FAIL'}: {lost} tasks lost with the executor; vectors "
      f"{'equal' if same else 'DIFFER from'} the undisturbed run's ({tables[1].num_rows} words)")
sys.exit(0 if lost and same else 1)
EOF
fi
started=$(date +%s)
say "submitting jobs/query.py"
submit "$ROOT/jobs/query.py" --vectors "$WORK/model" \
    --sql "SELECT * FROM w2v_most_similar('money', 5)" 2>&1 | tee "$WORK/query.out"
say "query took $(( $(date +%s) - started ))s"

# 4. Both executors ran training tasks; the query (a couple of tasks) ran on the cluster's
#    executors (SparkListenerTaskEnd events by executor, from the event logs).
"$PY" - "$WORK/events" <<'EOF'
import collections, glob, json, sys

failed = False
for path in sorted(glob.glob(f"{sys.argv[1]}/*")):
    tasks, executors, name = collections.Counter(), set(), "?"
    with open(path) as fh:
        for line in fh:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerApplicationStart":
                name = event["App Name"]
            elif kind == "SparkListenerExecutorAdded":
                executors.add(event["Executor ID"])
            elif kind == "SparkListenerTaskEnd" and event["Task End Reason"]["Reason"] == "Success":
                tasks[event["Task Info"]["Executor ID"]] += 1
    ran = [e for e in executors if tasks[e] > 0]
    # (a run with a killed executor has a third, its replacement)
    ok = len(executors) >= 2 and (len(ran) >= 2 if name == "sparkw2v" else len(ran) >= 1)
    failed |= not ok
    print(f"{'ok' if ok else 'FAIL'}: {name}: {len(executors)} executors, successful tasks per executor "
          f"{dict(sorted(tasks.items()))}")
sys.exit(1 if failed or not glob.glob(f"{sys.argv[1]}/*") else 0)
EOF
grep -q "trained .* words" "$WORK/train.out" || { echo "FAIL: no closing line from train"; exit 1; }
grep -q "similarity" "$WORK/query.out" || { echo "FAIL: no query result"; exit 1; }
say "PASS: trained and queried on a two-worker standalone cluster"
