#!/usr/bin/env bash
# What the heartbeats cost and how soon they end a job, between two "machines" (two network
# namespaces joined by a veth pair, one rank in each, Open MPI over TCP, as bench/two_hosts.sh).
# 1. Rank 1 stalls before step 2 (VAE_FAULT=stall@2/1) while rank 0 waits in the sum (until its
#    collective deadline of 35 s ends the job): the link then carries the heartbeats alone. Prints
#    the bytes a second on the link (both directions) and the CPU a second of each rank's
#    heartbeat thread, over 20 s.
# 2. Rank 1 freezes itself inside the exact sum of step 9 (VAE_FAULT=freeze-in-sum@9/1), at the
#    default --heartbeat-timeout: prints the seconds from its freeze (seen in /proc) to mpirun's end.
# Needs root and iproute2. Usage: bench/heartbeat.sh [VAE_BINARY]   (default .build/release/vae)
set -euo pipefail
vae=$(realpath "${1:-.build/release/vae}")
source "$(dirname "$0")/namespaces.sh" h 98

# mpirun in namespace a with the fault $1, then vae train's arguments.
job() {
    local fault=$1; shift
    ip netns exec "$a" env VAE_FAULT="$fault" mpirun --allow-run-as-root --host "$subnet.1,$subnet.2" -n 2 \
        --mca plm_rsh_agent "$work/agent" --mca btl tcp,self --bind-to none \
        --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" -x OPENBLAS_NUM_THREADS=1 \
        "$vae" train --limit 600 --batch-size 64 --test-images 100 --epochs 6 --checkpoint-every 4 "$@"
}
# The pid of rank $1 of the job training into $2.
rank_pid() {
    local pid
    for pid in $(pgrep -x vae); do
        { tr "\0" "\n" <"/proc/$pid/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" && { echo "$pid"; return 0; }
    done
    return 0
}
# Nanoseconds on a CPU of process $1's heartbeat thread.
heartbeat_ns() {
    local task
    for task in /proc/$1/task/*; do
        [[ $(cat "$task/comm") == vae-heartbeat ]] && awk '{ print $1 }' "$task/schedstat"
    done
    return 0
}
link_bytes() { ip netns exec "$a" cat /sys/class/net/$dev_a/statistics/{rx,tx}_bytes | paste -sd+ | bc; }

job stall@2/1 --run-dir "$work/stalled" --collective-timeout 35 >/dev/null 2>&1 &
mpirun_pid=$!
until [[ -n $(rank_pid 1 "$work/stalled") && -n $(rank_pid 0 "$work/stalled") ]]; do sleep 0.2; done
sleep 5
r0=$(rank_pid 0 "$work/stalled") r1=$(rank_pid 1 "$work/stalled")
t0=$(heartbeat_ns "$r0") t1=$(heartbeat_ns "$r1") bytes=$(link_bytes)
sleep 20
echo "link: $(( ($(link_bytes) - bytes) / 20 )) bytes/s (both directions, heartbeats alone)"
echo "heartbeat thread CPU: rank 0 $(( ($(heartbeat_ns "$r0") - t0) / 20000 )) us/s, rank 1 $(( ($(heartbeat_ns "$r1") - t1) / 20000 )) us/s"
wait "$mpirun_pid" || true

job freeze-in-sum@9/1 --run-dir "$work/frozen" >"$work/frozen.out" 2>&1 &
mpirun_pid=$! r1=""
until [[ -n ${r1:-} && $(awk '{ print $3 }' "/proc/$r1/stat" 2>/dev/null) == T ]]; do
    r1=$(rank_pid 1 "$work/frozen"); sleep 0.01
done
frozen=$(date +%s.%N)
wait "$mpirun_pid" && status=0 || status=$?
echo "freeze to the job's end: $(echo "$(date +%s.%N) - $frozen" | bc) s, exit $status: $(grep '^vae:' "$work/frozen.out")"
