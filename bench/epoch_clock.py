"""Runs one training command and timestamps, from outside, each line it prints that starts with
"epoch N": the one clock launch/bench applies to every contender (vae prints such a line at each
epoch's end, after its checkpoint; bench/keras_seed.py and bench/torch_vae.py at theirs).

    python3 bench/epoch_clock.py OUT.json LOG -- COMMAND [ARG ...]

Writes OUT.json: status, wall_seconds (start to exit), epoch_ends (seconds from the start at
which each epoch line arrived), peak_rss_mib (the largest resident set of any one process the
command ran: getrusage of the children, which mpirun's ranks are too) and cpu_seconds. Everything
the command prints goes to LOG.
"""
import json
import re
import resource
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: epoch_clock.py OUT.json LOG -- COMMAND [ARG ...]")
    out, log_path, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    epoch_line = re.compile(r"^epoch \d+\b")
    ends = []
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        for line in process.stdout:
            if epoch_line.match(line):
                ends.append(time.perf_counter() - start)
            log.write(line)
        status = process.wait()
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"status": status, "wall_seconds": round(wall, 3), "epoch_ends": [round(t, 3) for t in ends],
                   "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                   "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}, f)
    sys.exit(0 if status == 0 else 1)


if __name__ == "__main__":
    main()
