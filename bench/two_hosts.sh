#!/usr/bin/env bash
# Runs a command under mpirun between two "machines": two network namespaces joined by a veth
# pair, one rank in each, Open MPI over TCP (an rsh agent enters the other namespace), with the
# link limited by a token-bucket filter (tc tbf) to each given rate in turn. Needs root and
# iproute2. Prints one line per rate: "rate RATE" then the last line the command printed.
# "%rate%" in the command's arguments is replaced by the rate (to keep runs apart).
# Usage: bench/two_hosts.sh RATE... -- COMMAND [ARGUMENT...]   (RATE: e.g. 1gbit, or "none")
set -euo pipefail
rates=()
while (($#)) && [[ $1 != -- ]]; do rates+=("$1"); shift; done
(($# >= 2)) || { echo "usage: bench/two_hosts.sh RATE... -- COMMAND [ARGUMENT...]" >&2; exit 2; }
shift
source "$(dirname "$0")/namespaces.sh" v 99

for rate in "${rates[@]}"; do
    for pair in "$a $dev_a" "$b $dev_b"; do
        read -r ns dev <<<"$pair"
        if [[ $rate == none ]]; then
            ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
        else
            ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst 256kb latency 500ms
        fi
    done
    result=$(ip netns exec "$a" mpirun --allow-run-as-root --host "$subnet.1,$subnet.2" -n 2 \
        --mca plm_rsh_agent "$work/agent" --mca btl tcp,self --bind-to none \
        --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" -x OPENBLAS_NUM_THREADS=1 \
        "${@//%rate%/$rate}" | tail -n 1)
    echo "rate $rate $result"
done
