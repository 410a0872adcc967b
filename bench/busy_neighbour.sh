#!/usr/bin/env bash
# Two ranks on one machine, one of them sharing its core with another job (a busy loop bound to
# the last core): how a step's work is dealt decides how long the fast rank waits for the slow
# one. Runs each binary given in turn, ROUNDS times (A B A B ...), 3 epochs of 12,800 images,
# ranks bound to cores, and prints per run the mean images/s and the mean milliseconds a step
# waited in the gradients' collectives over epochs 2-3 (metrics.jsonl).
# Usage: bench/busy_neighbour.sh ROUNDS VAE_BINARY [VAE_BINARY ...]   (needs 2 cores, mpirun)
set -euo pipefail
rounds=$1; shift
data=$(realpath "$(dirname "$0")/../data/mnist")
work=$(mktemp -d)
last=$(( $(nproc) - 1 ))
taskset -c "$last" sh -c 'while :; do :; done' &
busy=$!
trap 'kill $busy; rm -rf "$work"' EXIT
for round in $(seq "$rounds"); do
    for vae in "$@"; do
        rm -rf "$work/run"
        mpirun --allow-run-as-root --oversubscribe -n 2 --bind-to core "$vae" train --data "$data" \
            --run-dir "$work/run" --epochs 3 --limit 12800 --test-images 0 --no-tensorboard >/dev/null 2>&1
        tail -2 "$work/run/metrics.jsonl" | python3 -c '
import json, sys
epochs = [json.loads(line) for line in sys.stdin]
mean = lambda key: sum(e[key] for e in epochs) / len(epochs)
print("round %s  %s  %.0f images/s  %.2f ms a step in the collectives"
      % (sys.argv[1], sys.argv[2], mean("images_per_second"), mean("allreduce_ms_per_step")))' "$round" "$vae"
    done
done
