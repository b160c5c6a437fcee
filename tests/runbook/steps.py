"""What the runbook tests (tests/runbook/) share: operator commands run as an
operator would (`python -m ...` with the suite's environment), waits with
generous caps, and reads of the suite's databases and metrics."""
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import create_engine, text

from tests.factories import enrolment
from tests.faults.conftest import listed_key
from tests.suite import ROOT, metric
from tests.waiting import wait_until  # noqa: F401 - the runbook tests take it from here


def run(suite, *args, env=None, input=None):
    """`python -m <args>` from the repository root, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", *args], env={**suite.env, **(env or {})}, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, input=input)




def scalar(suite, service, sql):
    """One value from a service's database (SQLite file or PostgreSQL)."""
    url = suite.env[f"{service.upper()}_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30) as db:
            row = db.execute(sql).fetchone()
    else:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                row = conn.execute(text(sql)).fetchone()
        finally:
            engine.dispose()
    return row[0] if row and row[0] is not None else 0


def log_head(suite):
    return scalar(suite, "declarations", "SELECT max(position) FROM events")


def relayed(suite):
    return scalar(suite, "declarations", "SELECT max(position) FROM relay_state")


def roster_checkpoint(suite):
    return scalar(suite, "residents", "SELECT position FROM residents_checkpoint WHERE name = 'declarations'")


def process_metric(suite, process, name, **labels):
    """A metric of one process, or None when it does not answer."""
    try:
        return metric(suite.metrics(process), name, **labels)
    except requests.RequestException:
        return None


def declare(suite, unit, first, count, kind="enrolment"):
    def one(i):
        r = suite.api("POST", f"/api/declarations/{kind}", unit["token"], json=enrolment(first + i))
        assert r.status_code == 201, r.text

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, range(count)))


def answering(suite, path="/healthz"):
    try:
        return suite.api("GET", path).status_code == 200
    except requests.RequestException:
        return False


def roster_of(suite, unit):
    items, page = [], 1
    while True:
        body = suite.api("GET", "/api/residents", unit["token"], params={"page": page, "size": 200}).json()
        items += body["items"]
        if len(items) >= body["total"]:
            return {listed_key(i): (unit["unit"]["id"], i["status"], i["name"]) for i in items}
        page += 1


def heartbeat_fresh(suite, process, since):
    """Whether `process` has touched its heartbeat file after `since`."""
    path = suite.process_env[process]["HEARTBEAT_FILE"]
    return os.path.exists(path) and os.path.getmtime(path) > since
