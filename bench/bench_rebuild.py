"""Rebuild (and verify) speed of the declarations projections.

    python -m bench.bench_rebuild [--events 1000000] [--database-url URL] [--verify]

Fills a fresh database (a temporary SQLite file unless --database-url names
an empty one) with a realistic log - enrolments, transfers, suspensions,
resumes and changes by 300 units over two years, decided by the domain
module so every event is one the live path could have written - then times
`rebuild` (the same function as `python -m services.declarations.cli
rebuild`). Target: at least 20,000 events/s on SQLite."""
import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from common.db import make_engine
from common.protect.runtime import protection
from services.declarations import domain, rebuild, sealing
from services.declarations.domain import CHANGE, ENROL, SUSPEND, Command
from services.declarations.eventlog import EVENT_COLUMNS
from services.declarations.models import Base, Event
from tests.factories import id_number

TZ = ZoneInfo("Asia/Shanghai")
TARGET = 20_000
START = datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
UNITS = [{"id": i, "name": f"泉州市第{i}社区居民委员会", "credit_code": f"91350503MA2Y{i:05d}X"}
         for i in range(1, 301)]


def person_data(i, rng):
    born = id_number(i)[6:14]
    return {"cert_type": "01", "cert_no": id_number(i), "name": "测试" + "甲乙丙丁戊己庚辛壬癸"[i % 10],
            "gender": "1" if int(id_number(i)[16]) % 2 else "2",
            "birth_date": f"{born[:4]}-{born[4:6]}-{born[6:]}", "nation": "01", "category": "11",
            "phone": f"139{rng.randrange(10 ** 8):08d}", "hukou_address": "福建省泉州市丰泽区",
            "address": "福建省泉州市丰泽区东海街道", "remark": None}


def fill(engine, count, seed=7, chunk=50_000):
    """Append `count` events decided from random commands; returns how many."""
    rng = random.Random(seed)
    p = protection(engine)  # the log holds the person fields sealed, its streams opaque
    persons = max(count // 3, 1)
    states, written, position = {}, 0, 0
    span = timedelta(days=730) / count
    while written < count:
        commands = []
        for _ in range(min(chunk, count - written) * 2):  # some will be refused
            i = rng.randrange(persons)
            sid = sealing.new_stream_id(p, "01", id_number(i))
            state = states.get(sid)
            unit = UNITS[rng.randrange(len(UNITS))] if state is None or rng.random() < 0.3 \
                else UNITS[state["unit_id"] - 1]
            roll = rng.random()
            if state is None or roll < 0.45:
                commands.append(Command(ENROL, unit, person_data(i, rng), {"actor": "bench"}))
            elif roll < 0.75:
                commands.append(Command(SUSPEND, unit, {"cert_type": "01", "cert_no": id_number(i),
                                "name": state["person"]["name"], "reason": "03", "remark": None},
                                {"actor": "bench"}))
            else:
                commands.append(Command(CHANGE, unit, {"cert_type": "01", "cert_no": id_number(i),
                                "name": state["person"]["name"],
                                "changes": {"phone": f"138{rng.randrange(10 ** 8):08d}"}}, {"actor": "bench"}))
        now = START + span * written
        streams = {c.key: sealing.new_stream_id(p, *c.key) for c in commands}
        outcomes, states = domain.decide_many(commands, states, {u["id"]: u for u in UNITS}, now, now.date(),
                                              streams=streams)
        events = [o for o in outcomes if isinstance(o, dict)][:count - written]
        for event in events:
            position += 1
            event["position"] = position
            event["occurred_at"] = START + span * position
        with engine.begin() as conn:
            conn.execute(insert(Event.__table__), [{c: (sealing.seal(p, e[c]) if c == "data" else e[c])
                                                    for c in EVENT_COLUMNS} for e in events])
        written += len(events)  # (only the last chunk is cut short; nothing is decided after it)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.bench_rebuild")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--chunk", type=int, default=rebuild.CHUNK)
    parser.add_argument("--verify", action="store_true", help="also time verify")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        url = args.database_url or f"sqlite:///{os.path.join(tmp, 'declarations.db')}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        t0 = time.perf_counter()
        count = fill(engine, args.events)
        print(f"log of {count:,} events written in {time.perf_counter() - t0:.1f} s ({engine.dialect.name})")
        t0 = time.perf_counter()
        replayed = rebuild.rebuild(engine, TZ, args.chunk)
        seconds = time.perf_counter() - t0
        rate = replayed / seconds
        ok = rate >= TARGET or engine.dialect.name != "sqlite"
        print(f"rebuild: {replayed:,} events in {seconds:.1f} s = {rate:,.0f} events/s "
              f"(target {TARGET:,} on SQLite) {'OK' if ok else 'BELOW TARGET'}")
        if args.verify:
            t0 = time.perf_counter()
            _, differences = rebuild.verify(engine, TZ, args.chunk)
            seconds = time.perf_counter() - t0
            print(f"verify: {replayed:,} events in {seconds:.1f} s = {replayed / seconds:,.0f} events/s, "
                  f"{len(differences)} differences")
            ok = ok and not differences
        engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
