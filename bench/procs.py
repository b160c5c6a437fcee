"""What the benchmarks read of the suite's processes from /proc (Linux):
the process tree, CPU time, and waiting until the suite is idle."""
import os
import time


def children(pid):
    """Direct children of `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def tree(pid):
    """`pid` and all its descendants (e.g. gunicorn's master and workers)."""
    pids, frontier = [pid], [pid]
    while frontier:
        found = children(frontier.pop())
        pids += found
        frontier += found
    return pids


def cpu_seconds(pid):
    """User + system CPU seconds used so far by `pid`; 0.0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_idle(pids, timeout=60, busy_share=0.15, window=1.0):
    """Wait until `pids` together use under `busy_share` of a core over
    `window` seconds, so that no leftover work (the relay publishing, residents
    applying) runs during the next measurement. True once idle, False at
    `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(window)
        if sum(cpu_seconds(p) for p in pids) - before < busy_share * window:
            return True
    return False


def reset_peaks(pids):
    """Reset each process's peak resident memory (VmHWM) to its current RSS."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass


def peak_mb(pid):
    """A process's peak resident memory (VmHWM) in MB, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
