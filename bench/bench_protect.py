"""Personal-information protection: cost per value of common.protect.

    python -m bench.bench_protect [--values 20000] [--rounds 5]

In this process, no database: --values persons' 证件号码, phone and address
(synthetic), through

- baseline: orjson.dumps of each person's three fields (what a store already pays
  to encode a row or an event), one op = one person;
- encrypt, decrypt: FieldProtector (SM4-GCM, one data key), one op = one field;
- blind index: BlindIndex.index("cert_no") (HMAC-SM3), one op = one value;
- mask: mask_cert_no + mask_phone, one op = one person.

Each round measures all of them back to back, the figures are the median of the
rounds (on the shared 2-core box the load drifts; the ratios to the same-run
baseline move much less). Prints ops/s, µs per op and the ratio of µs per op to
the baseline's. What a store pays per person written is about 3 encrypts + 1
blind index; per person listed about 2 decrypts + 1 mask (docs/protection.md).
"""
import argparse
import base64
import os
import random
import statistics
import time

import orjson

from common.protect import BlindIndex, FieldProtector, MemoryDekStore, mask_cert_no, mask_phone
from common.protect.keys import parse_env


def persons(n, seed=17):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        cert = f"3505{rnd.randrange(10, 99)}{rnd.randrange(1950, 2020)}{rnd.randrange(1, 13):02d}" \
               f"{rnd.randrange(1, 29):02d}{rnd.randrange(100, 999)}{rnd.choice('0123456789X')}"
        phone = f"1{rnd.choice('3589')}{rnd.randrange(10**8, 10**9)}"
        addr = f"福建省泉州市丰泽区东海街道{rnd.randrange(1, 300)}号" \
               f"{rnd.randrange(1, 30)}幢{rnd.randrange(101, 3000)}室"
        out.append((cert, phone, addr))
    return out


def timed(fn, ops):
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return ops / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    ring = parse_env({"EDT_PI_KEYS": "bench:" + base64.b64encode(os.urandom(16)).decode(),
                      "EDT_PI_INDEX_KEY": "bidx:" + base64.b64encode(os.urandom(32)).decode()})
    p = FieldProtector(ring, MemoryDekStore())
    bidx = BlindIndex.from_ring(ring)
    people = persons(args.values)
    fields = [(f, v) for cert, phone, addr in people
              for f, v in (("cert_no", cert), ("phone", phone), ("address", addr))]
    tokens = [(f, p.encrypt(f, v)) for f, v in fields]
    n_people, n_fields = len(people), len(fields)

    cases = {
        "baseline orjson (person)": (
            lambda: [orjson.dumps({"cert_no": c, "phone": ph, "address": a}) for c, ph, a in people], n_people),
        "encrypt (field)": (lambda: [p.encrypt(f, v) for f, v in fields], n_fields),
        "decrypt (field)": (lambda: [p.decrypt(f, t) for f, t in tokens], n_fields),
        "blind index cert_no": (lambda: [bidx.index("cert_no", c) for c, _, _ in people], n_people),
        "mask cert_no+phone (person)": (lambda: [(mask_cert_no(c), mask_phone(ph)) for c, ph, _ in people], n_people),
    }
    results = {name: [] for name in cases}
    print(f"bench_protect: {n_people:,} persons ({n_fields:,} fields), {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for _ in range(args.rounds):
        for name, (fn, ops) in cases.items():
            results[name].append(timed(fn, ops))
    base_us = 1e6 / statistics.median(results["baseline orjson (person)"])
    print(f"{'operation':30} {'ops/s':>12} {'µs/op':>8} {'× baseline':>11}")
    for name, rates in results.items():
        rate = statistics.median(rates)
        us = 1e6 / rate
        print(f"{name:30} {rate:12,.0f} {us:8.2f} {us / base_us:11.1f}")
    write_us = 3 / statistics.median(results["encrypt (field)"]) + 1 / statistics.median(
        results["blind index cert_no"])
    read_us = 2 / statistics.median(results["decrypt (field)"]) + 1 / statistics.median(
        results["mask cert_no+phone (person)"])
    print(f"per person written (3 encrypts + 1 blind index): {write_us * 1e6:.1f} µs; "
          f"per person listed (2 decrypts + masks): {read_us * 1e6:.1f} µs; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
