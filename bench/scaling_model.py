#!/usr/bin/env python3
"""The exact all-reduce's cost between machines, measured, and a step model of 2, 4 and 8 machines.

Usage: bench/scaling_model.py NETWORK IMAGES_PER_SECOND LOCAL
  NETWORK            bench/two_hosts.sh's output with bench/allreduce (one "rate R key value..." line a rate)
  IMAGES_PER_SECOND  vae's training rate as one process with one thread (launch/bench's first run)
  LOCAL              bench/allreduce's line for the ranks of one machine, in shared memory
Prints Markdown: the measured table, then scaling efficiency for strong and weak scaling.

The model: a step of M machines x 2 cores computes its micro-batches (16 images each, dealt
evenly, so a rank computes ceil(micro-batches / ranks) of them at the one-thread rate), then
all-reduces; the sums of the early groups (the decoder's last layers) start while the last
micro-batch's backward pass is still running, one collective pair after another on the link.
Between machines the all-reduce costs its time over the unlimited veth pair (the
latency, the agreement round and the copies) plus the bytes a bandwidth-optimal all-reduce (ring,
or Open MPI's Rabenseifner) sends over each machine's link, 2(M-1)/M times the buffer, at the
link's rate. (On a quiet machine this matched the tbf-limited measurements to about 10%; on a
busy one tbf's timers run late and the limited measurements are far above it.) One machine costs
the shared-memory time. Latency beyond the veth pair's (this kernel has no netem) is left out.
"""
import math
import sys

MICRO_BATCH = 16
SEED_BATCH = 128
CORES = 2
# The trainer's rule (BlockExactSum.Encoding): int32 in units of 2^(e - p), p = 31 - ceil(log2 n),
# for n micro-batches a step while p >= 25 (n <= 64); int64 beyond.
LEAST_PRECISION = 25
# The exact sum's early groups (VAE.gradientsFinalOffsets), in the order the backward pass
# finishes them: their values, and the share of a micro-batch's multiply-adds still to run then.
# Per image: forward 5.73M multiply-adds; backward deconv3 0.45M, deconv2 7.23M, deconv1 3.61M,
# the rest 0.18M; 17.2M in all.
EARLY_GROUPS = [(18_753, 3.79 / 17.2), (36_928, 0.18 / 17.2)]   # deconv2 and deconv3; deconv1


def fields(words):
    return {key: float(value) for key, value in zip(words[::2], words[1::2])}


def bytes_of(kind, values):
    agreed = 22 * 8   # the max over the block exponents and the marks
    return {"float32": 4 * values, "int32": 4 * (values + 1) + agreed, "int64": 8 * (values + 1) + agreed}[kind]


def bits_per_second(rate):
    return float(rate[:-4]) * {"gbit": 1e9, "mbit": 1e6}[rate[-4:]]


def encoding(batch):
    n = math.ceil(batch / MICRO_BATCH)
    precision = 31 - math.ceil(math.log2(n)) if n > 1 else 31
    return ("int32", precision) if precision >= LEAST_PRECISION else ("int64", 52)


def main():
    network, ips, local = sys.argv[1], float(sys.argv[2]), fields(sys.argv[3].split())
    values = int(local["values"])
    rows = {}
    for line in open(network):
        words = line.split()
        if words and words[0] == "rate":
            rows[words[1]] = fields(words[2:])
    micro_ms = MICRO_BATCH / ips * 1000

    def compute(batch, machines):
        return math.ceil(math.ceil(batch / MICRO_BATCH) / (machines * CORES)) * micro_ms

    keys = {"float32": "float32_ms", "int32": "exact32_ms", "int64": "exact_ms"}

    def latency(kind, machines, rate):
        """The all-reduce's time apart from its bytes at the link's rate: in shared memory, or the
        unlimited veth pair's."""
        if machines == 1:
            return local[keys[kind]]
        return rows["none"][keys[kind]] if "none" in rows else 0

    def allreduce(kind, machines, rate):
        link = 0 if machines == 1 or rate == "none" else \
            2 * (machines - 1) / machines * bytes_of(kind, values) * 8 / bits_per_second(rate) * 1000
        return latency(kind, machines, rate) + link

    def waited(kind, machines, rate):
        """What a step waits for after its computation when the early groups overlap it: each
        group pays the whole collective's fixed time and its own bytes, once it is final and the
        link is free (time 0 is the end of the computation)."""
        fixed = latency(kind, machines, rate)
        per_value = (allreduce(kind, machines, rate) - fixed) / (values + 1)
        free = -math.inf
        for count, remaining in EARLY_GROUPS:
            free = max(free, -remaining * micro_ms) + fixed + count * per_value
        main = values + 1 - sum(count for count, _ in EARLY_GROUPS)
        return max(free, 0) + fixed + main * per_value

    def step(batch, machines, rate, kind=None, overlap=True):
        kind = kind or encoding(batch)[0]
        return compute(batch, machines) + (waited if overlap else allreduce)(kind, machines, rate)

    print(f"Bytes a step for {values:,} values: float32 {4 * values:,}; the exact sum {8 * (values + 1):,} as int64, "
          f"{4 * (values + 1):,} as int32 (the values and the term count, after a max of 22 int64 exponents and marks).")
    print()
    two_by_two = compute(SEED_BATCH, 2)
    print("Measured between two namespaces (model in brackets), and the all-reduce's share of a modelled step of "
          "2 machines x 2 cores at the seed's batch:")
    print()
    print("| link | float32 | exact sum, int64 (before) | exact sum, int32 | share: float32 | share: int64 | share: int32 | int32 overlapped: wait, model | share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate, r in rows.items():
        cells, shares = [], []
        for kind in ("float32", "int64", "int32"):
            model = allreduce(kind, 2, rate)
            cells.append(f"{r[keys[kind]]:.2f} ms" + ("" if rate == "none" else f" ({model:.1f} ms)"))
            shares.append(f"{100 * model / (two_by_two + model):.0f}%")
        wait = waited("int32", 2, rate)
        shares.append(f"{wait:.2f} ms | {100 * wait / (two_by_two + wait):.0f}%")
        print(f"| {'veth, no limit' if rate == 'none' else rate + '/s'} | " + " | ".join(cells + shares) + " |")
    print()
    print(f"Compute: {micro_ms:.1f} ms a micro-batch of {MICRO_BATCH} images ({ips:,.0f} images/s on one core); "
          f"one machine's all-reduce in shared memory: {local['exact32_ms']:.2f} ms (int32), {local['exact_ms']:.2f} ms (int64).")
    rates = [rate for rate in ("1gbit", "10gbit") if rate in rows]
    for title, batch_of in (("Strong scaling: the seed's batch of 128 images (8 micro-batches) whatever the machines",
                             lambda m: SEED_BATCH),
                            ("Weak scaling: --batch-size 128 x machines (8 micro-batches a machine)",
                             lambda m: SEED_BATCH * m)):
        print()
        print(f"{title}. Efficiency: images/s per machine against one machine's at batch 128.")
        print()
        print("| machines x cores | batch | encoding | " + " | ".join(
            f"step at {r[:-4]} Gbit/s | all-reduce share | efficiency (int64, no overlap: before)" for r in rates) + " |")
        print("| --- | ---: | --- | " + " | ".join("---: | ---: | ---:" for _ in rates) + " |")
        one = step(SEED_BATCH, 1, None)
        for machines in (1, 2, 4, 8):
            batch = batch_of(machines)
            kind, precision = encoding(batch)
            cells = []
            for rate in rates:
                t = step(batch, machines, rate)
                wide = step(batch, machines, rate, "int64", overlap=False)
                efficiency = lambda t: (batch / t) / machines / (SEED_BATCH / one)
                cells.append(f"{t:.1f} ms | {100 * (t - compute(batch, machines)) / t:.0f}% "
                             f"| {100 * efficiency(t):.0f}% ({100 * efficiency(wide):.0f}%)")
            name = f"{kind}, 2^-{precision}" if kind == "int32" else "int64, 2^-52"
            print(f"| {machines} x {CORES} | {batch} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
