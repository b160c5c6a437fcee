"""The log's identity in the declarations database, on both engines: made
with the tables, advanced by `restore-epoch` and by the relay itself when
the log ends before what was published (a restored database)."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.log_identity import shared_prefix
from services.declarations.cli import main as cli
from services.declarations.eventlog import identity as log_identity
from services.declarations.models import Base
from services.declarations.relay_store import RelayStore
from tests.databases import schema_engine
from tests.integration.test_relay import declare

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


@pytest.fixture
def engine(db_url):
    with schema_engine(db_url, Base.metadata) as engine:
        yield engine


def identity_of(engine):
    with engine.connect() as conn:
        return log_identity.current(conn)


def test_a_log_is_born_with_an_identity_at_epoch_1(engine, db_url):
    first = identity_of(engine)
    assert first.epoch == 1 and len(first.log_id) == 36 and first.forks == ((1, 0),)
    assert identity_of(engine) == first  # read, not made again


def test_the_relay_starts_an_epoch_when_the_log_ends_before_its_checkpoint(engine):
    declare(engine, 0, 5)
    store = RelayStore(Session(engine), "a")
    store.claim(NOW, LEASE)
    assert store.advance(5, NOW)
    assert store.identity(NOW).epoch == 1  # the log is where the relay left it
    # Only the events table restored from an older state: the relay's
    # checkpoint (8) is beyond the log's end (5).
    with engine.begin() as conn:
        conn.execute(text("UPDATE relay_state SET position = 8"))
    after = store.identity(NOW)
    assert after.epoch > 1 and after.log_id == identity_of(engine).log_id
    assert after.forks[-1] == (after.epoch, 5)
    assert store.state().position == 5  # what is appended again is published again
    assert store.identity(NOW) == after  # once
    store.session.close()


def test_the_relay_starts_an_epoch_when_it_published_past_the_log_end(engine):
    """The whole database restored under a running relay: its checkpoint row
    came back with the backup, but the relay remembers publishing further."""
    declare(engine, 0, 3)
    store = RelayStore(Session(engine), "a")
    store.claim(NOW, LEASE)
    store.advance(3, NOW)
    after = store.identity(NOW, published=7)
    assert after.epoch > 1 and after.forks[-1][1] == 3
    assert shared_prefix(after, 1) == 3
    store.session.close()


def test_restore_epoch_starts_an_epoch_sharing_what_the_relay_had_published(engine, db_url, capsys):
    declare(engine, 0, 6)
    store = RelayStore(Session(engine), "a")
    store.claim(NOW, LEASE)
    store.advance(4, NOW)  # 5 and 6 not published yet when the backup was taken
    store.session.close()
    assert cli(["restore-epoch", "--database-url", db_url]) == 0
    assert "shares positions up to 4" in capsys.readouterr().out
    after = identity_of(engine)
    assert after.forks[-1] == (after.epoch, 4)
    assert cli(["restore-epoch", "--database-url", db_url, "--fork-position", "2"]) == 0
    again = identity_of(engine)
    assert again.epoch > after.epoch and again.forks[-1][1] == 2
    assert shared_prefix(again, 1) == 2 and shared_prefix(again, after.epoch) == 2
