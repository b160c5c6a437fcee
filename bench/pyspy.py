"""py-spy around a benchmark: sample some processes while a load runs and
print where each spent its time.

    with pyspy.Recorder({"gateway": pid, "auth": pid}, "out/unit", seconds=8):
        ... drive the load ...
    print(pyspy.summary("out/unit"))

Each process is recorded with `py-spy record --format raw` (collapsed
stacks, one file per process) at 200 samples/s in non-blocking mode, idle
threads left out. `summary` prints, per process, the functions with the
largest inclusive share of the samples (a function counted once per stack),
which is what bench/README.md ("History of measurements", Performance) quotes.
"""
import collections
import os
import re
import shutil
import subprocess
import sys

_LINE = re.compile(r":\d+\)$")


def available():
    return shutil.which("py-spy") or os.path.exists(os.path.join(os.path.dirname(sys.executable), "py-spy"))


def _exe():
    local = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return local if os.path.exists(local) else "py-spy"


class Recorder:
    def __init__(self, pids, directory, seconds, rate=200):
        self.pids, self.directory, self.seconds, self.rate = pids, directory, seconds, rate
        self.procs = []

    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        for name, pid in self.pids.items():
            out = os.path.join(self.directory, f"{name}.txt")
            self.procs.append(subprocess.Popen(
                [_exe(), "record", "--pid", str(pid), "--duration", str(int(self.seconds)),
                 "--rate", str(self.rate), "--format", "raw", "--nonblocking", "--output", out],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                p.wait(self.seconds + 30)
            except subprocess.TimeoutExpired:
                p.kill()


def _frame(frame):
    # "function (path/to/file.py:123)" -> "function (file.py)"
    frame = _LINE.sub(")", frame.strip())
    name, _, where = frame.partition(" (")
    return f"{name} ({os.path.basename(where.rstrip(')'))})" if where else name


def top(path, limit=15):
    """(total samples, [(share, function)] by inclusive share)."""
    inclusive, total = collections.Counter(), 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            for frame in {_frame(fr) for fr in stack.split(";")}:
                inclusive[frame] += n
    return total, [(c / total, f) for f, c in inclusive.most_common(limit)] if total else []


def summary(directory, limit=15):
    out = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".txt"):
            continue
        total, rows = top(os.path.join(directory, name), limit)
        out.append(f"  {name[:-4]}: {total} samples")
        out.extend(f"    {share:6.1%}  {frame}" for share, frame in rows)
    return "\n".join(out)
