"""A closed-loop HTTP load generator: N client threads, each with its own
keep-alive connection, send requests back to back for a fixed time.

Used by the gateway benchmark and the sustained-load test. It runs on the
same machine as the suite, so absolute figures include the client's own CPU;
compare ratios measured in one run (e.g. against the no-op /healthz)."""
import http.client
import itertools
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)

    @property
    def count(self):
        return len(self.latencies)

    @property
    def rps(self):
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    @property
    def errors(self):
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def line(self, baseline=None):
        ratio = f"  {self.rps / baseline.rps:6.1%} of {baseline.name}" if baseline else ""
        return (f"{self.name:<40} {self.rps:8.0f} req/s  p50 {self.percentile(50) * 1000:6.1f} ms  "
                f"p99 {self.percentile(99) * 1000:6.1f} ms  errors {self.errors}{ratio}")


def run(base_url, name, make_request, clients=32, seconds=10.0, warmup=1.0, until=None):
    """`make_request(i)` → (method, path, headers, body-or-None) for request i
    of a client; returns a Result over the measured window. With `until`,
    stop once that many requests were sent in all (for filling data)."""
    budget = itertools.count() if until else None
    parts = urlsplit(base_url)
    result = Result(name, seconds)
    lock = threading.Lock()
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds

    def client(n):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        i = 0
        mine, statuses = [], {}
        while True:
            now = time.perf_counter()
            if now >= stop_at or (budget is not None and next(budget) >= until):
                break
            method, path, headers, body = make_request(n * 1_000_000 + i)
            i += 1
            data = json.dumps(body).encode() if body is not None else None
            hdrs = dict(headers or {})
            if data is not None:
                hdrs["Content-Type"] = "application/json"
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                status = 599
            t1 = time.perf_counter()
            if t0 >= start_at:
                mine.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()
        with lock:
            result.latencies.extend(mine)
            for s, c in statuses.items():
                result.statuses[s] = result.statuses.get(s, 0) + c

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def median(values):
    return statistics.median(values) if values else float("nan")
