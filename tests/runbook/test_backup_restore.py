"""Runbook, "Backup and restore", tried on the suite on PostgreSQL: the
declarations database backed up with pg_dump while the platform runs,
declarations made after the backup, then the restore as docs/operations.md
says: stop the gateway, declarations and batches; restore the database
(pg_restore into a database created anew); `deploy.migrate current` and
`upgrade`; `cli restore-epoch`; `cli verify`; start the services, then the
gateway; watch the lags fall to 0. Residents, ahead of the restored log,
rebuilds its roster by itself; the roster equals a fold of the restored log
plus what was declared after."""
import subprocess

import pytest
from sqlalchemy import create_engine, text

from tests.faults.conftest import fold, listed, read_log
from tests.runbook.steps import (
    answering,
    declare,
    log_head,
    process_metric,
    relayed,
    roster_checkpoint,
    roster_of,
    run,
    wait_until,
)
from tests.suite import ADMIN_PASSWORD, POSTGRES_ADMIN_URL, start_suite


@pytest.fixture
def suite():
    with start_suite({"RESIDENTS_CATCHUP_INTERVAL": "2"}, database="postgresql") as s:
        yield s


def recreate(url):
    """Drop the database of `url` and create it empty (as before pg_restore)."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def test_restore_an_older_backup_of_the_declarations_database(suite, tmp_path):
    admin = suite.login("admin", ADMIN_PASSWORD)
    a = suite.new_unit(admin)
    declare(suite, a, 4_100_000, 120)
    wait_until(lambda: relayed(suite) == 120 and roster_checkpoint(suite) == 120, "the log was not followed")

    url = suite.env["DECLARATIONS_DATABASE_URL"]
    dump = str(tmp_path / "declarations.dump")
    subprocess.run(["pg_dump", "-Fc", "-f", dump, url], check=True, capture_output=True, timeout=300)

    declare(suite, a, 4_200_000, 80)  # lost by the restore
    wait_until(lambda: roster_checkpoint(suite) == 200, "residents did not follow")

    # 1. Stop the gateway, declarations and batches.
    for name in ("gateway", "declarations", "batches"):
        suite.stop_process(name)
    # 2. Restore; the code's migrations.
    recreate(url)
    restored = subprocess.run(["pg_restore", "--no-owner", "-d", url, dump], capture_output=True, text=True,
                              timeout=300)
    assert restored.returncode == 0, restored.stderr
    current = run(suite, "deploy.migrate", "current")
    assert current.returncode == 0, current.stderr
    upgraded = run(suite, "deploy.migrate", "upgrade", "declarations")
    assert upgraded.returncode == 0, upgraded.stderr
    assert log_head(suite) == 120
    # The new epoch: messages of the old one still in queues are dropped.
    epoch = run(suite, "services.declarations.cli", "restore-epoch")
    assert epoch.returncode == 0 and "shares positions up to 120" in epoch.stdout, epoch.stdout + epoch.stderr
    # 3. The projections against the log.
    verified = run(suite, "services.declarations.cli", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "equal a replay of 120 events" in verified.stdout
    # 6. Start the services, then the gateway; watch the lags fall to 0.
    for name in ("declarations", "batches", "gateway"):
        suite.start_process(name)
    wait_until(lambda: answering(suite, "/readyz"),
               lambda: "the platform did not become ready:\n" + suite.log_tail("residents"))
    b = suite.new_unit(admin)
    declare(suite, b, 4_300_000, 50)
    log = read_log(suite, admin)
    assert len(log) == 170
    wait_until(lambda: roster_checkpoint(suite) == 170, lambda: suite.log_tail("residents"))
    wait_until(lambda: process_metric(suite, "declarations", "declarations_relay_lag_events") == 0
               and process_metric(suite, "residents", "consumer_lag_events", consumer="residents") == 0,
               "the lags did not fall to 0")
    # 4. Residents was ahead of the restored log: it emptied its roster and rebuilt it.
    assert process_metric(suite, "residents", "consumer_log_resets_total", consumer="residents") == 1
    roster = {**roster_of(suite, a), **roster_of(suite, b)}
    assert roster == listed(fold(log))
    assert len(roster_of(suite, a)) == 120  # what was declared after the backup is gone with it
