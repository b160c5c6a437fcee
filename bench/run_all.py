"""Every benchmark under bench/, each against what it starts itself, with
the baseline each figure is compared to measured in the same run, and a
summary table of the issue's targets at the end.

    python -m bench.run_all            # the full run (~15 min on 2 vCPUs)
    python -m bench.run_all --quick    # shorter windows and smaller data (~6 min)
    python -m bench.run_all --only gateway,lag
    make bench                         # = python -m bench.run_all (BENCH_ARGS=--quick)

Each benchmark runs as its own process (python -m bench.<name>), its output
shown as it comes; the figures are read from that output. The machine's
speed at the time is shown next to each benchmark (a fixed pure-Python
workload, in ms, and the load average), since absolute figures on a shared
2-core machine move with whatever else runs; the ratios do not.

Benchmarks and their same-run baselines:

- gateway (bench_gateway): GET /api/unit, GET /api/residents (page of 20 in
  a unit of 50,000), POST enrolment at 32 clients, each / GET /healthz;
- gateway-pg: the same on PostgreSQL, whose ratios must be at least
  SQLite's of the same run (within a 10% margin for the noise of one window);
- batch (bench_batch, as its owner keeps it): import of 10,000 and of
  20,000 rows / openpyxl's read-only parse of the same file;
- eventstore (bench_eventstore): single and batch appends per second;
- rebuild (bench_rebuild): rebuild of 1,000,000 events (--quick: 200,000);
- export (bench_export): export of 50,000 rows, time and peak memory /
  the same workbook written in process;
- lag (bench_event_flow): commit -> roster delay at 200 declarations/s /
  commit -> on the broker;
- protect (bench_protect): SM4-GCM encrypt and decrypt of a field, the
  blind index, the masks / orjson of the same person's fields (shown, no
  target: the gateway, batch and rebuild figures above include the cost).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ("gateway", "gateway-pg", "batch", "eventstore", "rebuild", "export", "lag", "protect")


def commands(quick):
    py = [sys.executable, "-m"]
    return {
        "gateway": py + ["bench.bench_gateway", "--seconds", "5" if quick else "10",
                         "--roster", "50000"],
        "gateway-pg": py + ["bench.bench_gateway", "--seconds", "5" if quick else "10",
                            "--roster", "50000", "--database", "postgresql"],
        "batch": py + ["bench.bench_batch", "--repeat", "1" if quick else "3"],
        "eventstore": py + ["bench.bench_eventstore", "--seconds", "4" if quick else "10"],
        "rebuild": py + ["bench.bench_rebuild", "--events", "200000" if quick else "1000000"],
        "export": py + ["bench.bench_export", "--persons", "50000", "--searches", "50" if quick else "200"],
        "lag": py + ["bench.bench_event_flow", "--rate", "200", "--seconds", "10" if quick else "20"],
        "protect": py + ["bench.bench_protect", "--rounds", "3" if quick else "5"],
    }


def machine_speed():
    """ms for a fixed pure-Python workload (JSON of an event, 20,000 times)."""
    event = {"position": 1, "type": "person.enrolled", "unit": {"id": 1, "name": "社区"},
             "data": {"cert_no": "350503199001011234", "name": "测试", "phone": "13900000000"}}
    started = time.perf_counter()
    for i in range(20_000):
        event["position"] = i
        json.loads(json.dumps(event, ensure_ascii=False))
    return (time.perf_counter() - started) * 1000


def run(name, argv):
    speed, load = machine_speed(), os.getloadavg()[0]
    print(f"\n######## {name}: {' '.join(argv[2:])}", flush=True)
    print(f"(machine now: reference workload {speed:.0f} ms, load average {load:.1f})", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in proc.stdout:
        sys.stdout.write("  " + line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    proc.wait()
    elapsed = time.perf_counter() - started
    print(f"(exit {proc.returncode}, {elapsed:.0f} s)", flush=True)
    return "\n".join(lines), proc.returncode, {"speed_ms": speed, "load": load, "seconds": elapsed}


_REQ = re.compile(r"^(?P<name>(GET|POST) \S+)(?: \(no-op\))?\s+(?P<rps>[\d.]+) req/s\s+p50\s+(?P<p50>[\d.]+) ms\s+"
                  r"p99\s+(?P<p99>[\d.]+) ms\s+errors (?P<errors>\d+)", re.M)


def parse_gateway(out):
    rows = {m["name"]: {k: float(m[k]) for k in ("rps", "p50", "p99", "errors")} for m in _REQ.finditer(out)}
    noop = rows.get("GET /healthz")
    checks = []
    for name, target in (("GET /api/unit", 0.25), ("GET /api/residents", 0.25),
                         ("POST /api/declarations/enrolment", 0.10)):
        r = rows.get(name)
        if r is None or noop is None:
            checks.append((f"gateway {name}", "not measured", f">= {target:.0%} of no-op", False))
            continue
        ratio = r["rps"] / noop["rps"]
        checks.append((f"gateway {name} (32 clients)",
                       f"{ratio:.1%} of no-op ({r['rps']:.0f} vs {noop['rps']:.0f} req/s; "
                       f"p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; errors {r['errors']:.0f})",
                       f">= {target:.0%}, 0 errors", ratio >= target and r["errors"] == 0))
    return checks


def gateway_ratios(out):
    rows = {m["name"]: float(m["rps"]) for m in _REQ.finditer(out)}
    noop = rows.get("GET /healthz")
    return {name: rps / noop for name, rps in rows.items() if noop and name != "GET /healthz"}


def parse_gateway_pg(out, sqlite_out=None):
    checks = [(label.replace("gateway ", "gateway on PostgreSQL "), *rest)
              for label, *rest in parse_gateway(out)]
    if sqlite_out is not None:
        pg, lite = gateway_ratios(out), gateway_ratios(sqlite_out)
        for name in sorted(set(pg) & set(lite)):
            checks.append((f"gateway {name}: PostgreSQL vs SQLite", f"{pg[name]:.1%} vs {lite[name]:.1%} of no-op",
                           ">= SQLite's ratio (10% margin)", pg[name] >= 0.9 * lite[name]))
    return checks


def parse_batch(out):
    ratios = [float(x) for x in re.findall(r"median ratio ([\d.]+)", out)]
    titles = re.findall(r"^\s*== (.+)$", out, re.M)
    checks = []
    for i, label in enumerate(("batch 10,000 rows", "batch 20,000 rows (10% bad)")):
        if i < len(ratios):
            title = f" [{titles[i]}]" if i < len(titles) else ""
            checks.append((label, f"{ratios[i]:.2f} x openpyxl parse{title}", "< 1.0", ratios[i] < 1.0))
        else:
            checks.append((label, "not measured", "< 1.0", False))
    return checks


def parse_eventstore(out):
    single = re.search(r"single appends.*= ([\d,]+)/s", out)
    batch = re.search(r"batch appends.*= ([\d,]+)/s \(([\d.]+)x single\)", out)
    if not (single and batch):
        return [("event store appends", "not measured", "-", None)]
    return [("event store single appends", f"{single.group(1)}/s", "(reported)", None),
            ("event store batch appends", f"{batch.group(1)}/s ({batch.group(2)}x single)", "(reported)", None)]


def parse_rebuild(out):
    m = re.search(r"rebuild: ([\d,]+) events in ([\d.]+) s = ([\d,]+) events/s", out)
    if not m:
        return [("rebuild", "not measured", ">= 20,000 events/s", False)]
    rate = int(m.group(3).replace(",", ""))
    return [(f"rebuild of {m.group(1)} events (SQLite)", f"{rate:,} events/s ({m.group(2)} s)",
             ">= 20,000 events/s", rate >= 20_000)]


def parse_export(out):
    m = re.search(r"export of (\d+) residents via GET /api/residents/export: ([\d.]+) s", out)
    peaks = {n: float(v)
             for n, v in re.findall(r"^\s*(\w+)\s+RSS before .*peak during export\s+([\d.]+) MB", out, re.M)}
    local = re.search(r"write_roster in this process: \d+ rows in ([\d.]+) s", out)
    if not m or not peaks:
        return [("roster export", "not measured", "<= 200 MB", False)]
    peak = max(peaks.values())
    base = f", in process {local.group(1)} s" if local else ""
    return [(f"roster export of {m.group(1)} rows",
             f"{m.group(2)} s{base}; peak " + ", ".join(f"{n} {v:.0f} MB" for n, v in peaks.items()),
             "<= 200 MB", peak <= 200)]


def parse_lag(out):
    m = re.search(r"commit -> roster delay: p50 ([\d.]+) ms\s+p90 [\d.]+ ms\s+p99 ([\d.]+) ms", out)
    broker = re.search(r"commit -> on the broker.*?p50 ([\d.]+) ms\s+p99 ([\d.]+) ms", out)
    shows = re.search(r"roster shows (\d+)/(\d+) events", out)
    if not m:
        return [("relay + consumer lag at 200/s", "not measured", "p99 < 1 s", False)]
    p99 = float(m.group(2))
    base = f"; on the broker p50 {broker.group(1)}, p99 {broker.group(2)} ms" if broker else ""
    complete = not shows or shows.group(1) == shows.group(2)
    return [("relay + consumer lag at 200/s", f"p50 {m.group(1)} ms, p99 {p99:.0f} ms{base}"
             + ("" if complete else f" (only {shows.group(1)}/{shows.group(2)} shown)"),
             "p99 < 1 s", p99 < 1000 and complete)]


def parse_protect(out):
    m = re.search(r"per person written .*?: ([\d.]+) µs; per person listed .*?: ([\d.]+) µs", out)
    if not m:
        return [("personal-field protection", "not measured", "-", None)]
    return [("personal-field protection", f"{m[1]} µs per person written (3 encrypts + 1 blind index), "
             f"{m[2]} µs per person listed (2 decrypts + masks)", "shown", None)]


PARSERS = {"gateway": parse_gateway, "gateway-pg": parse_gateway_pg, "batch": parse_batch,
           "eventstore": parse_eventstore, "rebuild": parse_rebuild, "export": parse_export, "lag": parse_lag,
           "protect": parse_protect}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, smaller rebuild (~6 min)")
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(ORDER))
    args = parser.parse_args(argv)
    chosen = [n for n in ORDER if not args.only or n in args.only.split(",")]
    cmds = commands(args.quick)
    started = time.perf_counter()
    rows, machine, outs = [], {}, {}
    for name in chosen:
        out, code, machine[name] = run(name, cmds[name])
        outs[name] = out
        checks = (parse_gateway_pg(out, outs.get("gateway")) if name == "gateway-pg"
                  else PARSERS[name](out))
        if code not in (0, 1):  # 1: a benchmark's own target missed; anything else: it failed
            checks = [(label, f"{result} (benchmark exited {code})", target, False)
                      for label, result, target, _ in checks]
        rows.extend((name, *c) for c in checks)

    print(f"\n######## summary ({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s; "
          f"{os.cpu_count()} CPUs)")
    width = max(len(r[1]) for r in rows)
    for _name, label, result, target, ok in rows:
        verdict = "-" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{verdict:<5} {label:<{width}}  {result}  [target {target}]")
    print("machine during each: " + ", ".join(
        f"{n} {m['speed_ms']:.0f} ms/load {m['load']:.1f}" for n, m in machine.items()))
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
