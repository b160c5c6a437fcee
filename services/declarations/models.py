"""Tables of the declarations service: the append-only event log, and the
projections written in the same transaction as each append (and rebuilt from
the log by `python -m services.declarations.cli rebuild`)."""
from datetime import datetime

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.protect.sql import data_keys_table

# SQLite only makes an INTEGER PRIMARY KEY the row id (fast, compact);
# PostgreSQL gets a 64-bit position.
Position = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One accepted declaration. Rows are only ever inserted: triggers below
    refuse UPDATE and DELETE on both engines."""
    __tablename__ = "events"
    # Assigned by the store under the append lock: gap-free, in commit order.
    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    # "p:" + the blind index of the person's 证件号码 when its first event was
    # appended (services/declarations/sealing.py); never recomputed.
    stream_id: Mapped[str] = mapped_column(String(40))
    stream_version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # 证件号码, 联系电话 and the addresses as tokens (sealing.PROTECTED).
    data: Mapped[dict] = mapped_column(JSON)
    meta: Mapped[dict] = mapped_column("metadata", JSON)
    __table_args__ = (UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),)


class Person(Base):
    """Current state per person: what commands decide from. Equal, by
    construction and by `verify`, to folding the person's stream.

    Deciding finds a person by the blind index of its 证件号码 (unique with
    the type; the index leads with it, so a set of indexes is one lookup);
    the number itself and the phone and addresses in `person` are tokens."""
    __tablename__ = "persons"
    stream_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cert_type: Mapped[str] = mapped_column(String(2))
    cert_no_bidx: Mapped[str] = mapped_column(String(32))
    cert_no_enc: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10))  # active | suspended
    unit_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    person: Mapped[dict] = mapped_column(JSON)
    __table_args__ = (Index("ux_persons_cert_no_bidx", "cert_no_bidx", "cert_type", unique=True),)


class UnitCount(Base):
    __tablename__ = "unit_counts"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    insured_count: Mapped[int] = mapped_column(Integer)


class UnitMonth(Base):
    """Increase and decrease of a unit in a calendar month ("YYYY-MM") of the
    business time zone."""
    __tablename__ = "unit_months"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    increase: Mapped[int] = mapped_column(Integer)
    decrease: Mapped[int] = mapped_column(Integer)


class Record(Base):
    """One row per declaration, visible only to the declaring unit. The
    declared data stay in the event (record_id = event_id) and are read from
    there for the detail view."""
    __tablename__ = "records"
    # The event's position: rows are appended in key order (a million of
    # them in a rebuild), not scattered by a random UUID key.
    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(36))
    unit_id: Mapped[int] = mapped_column(Integer)
    business_type: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    cert_type: Mapped[str] = mapped_column(String(2))
    cert_no_bidx: Mapped[str] = mapped_column(String(32))  # the list's ?cert_no= search
    cert_no_enc: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(50))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    batch_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    __table_args__ = (
        Index("ux_records_record_id", "record_id", unique=True),
        Index("ix_records_unit_position", "unit_id", "position"),
        Index("ix_records_unit_declared", "unit_id", "declared_at"),
        # The record list's filters by name, 证件号码 and batch (bench/city-plans.txt:
        # without them a filter walked all of a unit's records).
        Index("ix_records_unit_name", "unit_id", "name"),
        Index("ix_records_unit_cert_no_bidx", "unit_id", "cert_no_bidx"),
        Index("ix_records_unit_batch", "unit_id", "batch_no"),
    )


class ProjectionKey(Base):
    """The blind-index key the projections' `cert_no_bidx` columns were
    built with (one row). A process whose index key differs refuses to
    start until `python -m services.declarations.cli rebuild` recomputed
    them (the log does not depend on the index key)."""
    __tablename__ = "projection_keys"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)  # "blind_index"
    key_id: Mapped[str] = mapped_column(String(32))


class UnitSeen(Base):
    """The latest name and credit code of each unit that declared, for event
    payloads that name another unit (a transfer's from_unit)."""
    __tablename__ = "units_seen"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)


class Idempotency(Base):
    """The first answer to a write sent with an Idempotency-Key. `response`
    is the answer's JSON encrypted whole, one token (services/declarations/
    sealed.py: it names the person's 证件号码 and more)."""
    __tablename__ = "idempotency"
    account: Mapped[str] = mapped_column(String(50), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Projections that rebuild truncates and replays; idempotency answers and the
# log itself are not projections.
PROJECTIONS = (Person.__table__, UnitCount.__table__, UnitMonth.__table__,
               Record.__table__, UnitSeen.__table__)

_APPEND_ONLY = "events are append-only"
for _op in ("UPDATE", "DELETE"):
    event.listen(Event.__table__, "after_create", DDL(
        f"CREATE TRIGGER events_no_{_op.lower()} BEFORE {_op} ON events "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
    ).execute_if(dialect="sqlite"))
event.listen(Event.__table__, "after_create", DDL(
    "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$; "
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
).execute_if(dialect="postgresql"))


class RelayState(Base):
    """The outbox relay's checkpoint and lease (services/declarations/relay.py):
    one row per relay, named after the exchange it feeds. Only the holder of
    an unexpired lease publishes; the checkpoint is the last position the
    broker confirmed."""
    __tablename__ = "relay_state"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- batches (services/declarations/batch) --------------------------------------

# A batch's life: received and waiting for a worker, its file being read, its
# rows being decided, then done (totals and failures) or failed (`message`).
BATCH_STATUSES = ("queued", "reading", "deciding", "done", "failed")
BATCH_OPEN = ("queued", "reading", "deciding")


class Batch(Base):
    """One uploaded file: its progress while a batch worker handles it, then
    its totals and its rejected rows. `failures` holds [{row, cert_no, name,
    reason, values}] where `values` is the row as the user typed it, so the
    failures workbook can be rebuilt at any time. The column holds that list
    encrypted whole, one token (services/declarations/sealed.py): BatchStore
    writes and `failures_of` reads it.

    A worker holds a batch while `lease_until` lies ahead; a batch whose
    lease ran out (its worker died) is taken again by any worker."""
    __tablename__ = "batches"
    batch_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    business_type: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    failures: Mapped[str] = mapped_column(Text)
    account: Mapped[str | None] = mapped_column(String(50), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(10), server_default="done")
    rows_read: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_decided: Mapped[int] = mapped_column(Integer, server_default="0")
    # Why a failed batch was refused as a whole: the message, its error code
    # (unsupported_file, too_large, invalid_input, interrupted) and, for a
    # file that is not the current template, a finer reason (no_rows, ...).
    message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Who submitted it: {"unit": {name, credit_code}, "actor": {account,
    # request_id, address}}, for the events its worker appends.
    origin: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    __table_args__ = (
        # A byte-identical file imported again by the same unit answers with
        # the first batch (see batch/batches.submit).
        UniqueConstraint("unit_id", "business_type", "file_sha256", name="uq_batches_unit_file"),
        UniqueConstraint("unit_id", "idempotency_key", name="uq_batches_unit_key"),
        Index("ix_batches_unit_submitted", "unit_id", "submitted_at"),
        Index("ix_batches_open", "status", "submitted_at"),
    )


class BatchFile(Base):
    """The uploaded bytes of a batch that is not finished yet; deleted in the
    transaction that finishes it (the rows then live on in the events and the
    failures), so no file of personal data lingers. `content` is the file
    encrypted (the token's ASCII bytes, services/declarations/sealed.py)."""
    __tablename__ = "batch_files"
    batch_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class BatchCounter(Base):
    """The last batch number given out on a business day ("YYYYMMDD"): one
    row per day, incremented in place, so concurrent uploads each get the
    next number without retrying."""
    __tablename__ = "batch_counters"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class LogEpoch(Base):
    """The log's identity: one row per epoch. `log_id` is made once, with the
    database, and is the same in every row; a restore of the database
    advances the epoch (`python -m services.declarations.cli restore-epoch`,
    or the relay when the log ends before what it published). The relay
    puts both on every message, so consumers tell a message of this log
    from one of another log or of an older epoch (docs/events.md).
    `fork_position`: the last position this epoch shares with the one
    before it (0 for the first)."""
    __tablename__ = "log_epochs"
    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_id: Mapped[str] = mapped_column(String(36))
    fork_position: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))


@event.listens_for(LogEpoch.__table__, "after_create")
def _first_epoch(table, connection, **kw):
    """A log gets its identity with its table (create_all: `make run`, the
    tests; the migration 3a8c5e7d2f14 does the same for migrated databases)."""
    import uuid
    from datetime import UTC

    connection.execute(table.insert().values(
        epoch=1, log_id=str(uuid.uuid4()), fork_position=0, started_at=datetime.now(UTC), reason="log created"))



# -- the campaign figures (services/declarations/campaign, docs/workbench.md) ----
# Operator records (unit_refs, unit_placements, unit_targets: kept, never
# rebuilt) and projections (campaign_*: emptied and replayed by rebuild).

FIGURES = ("increase", "decrease", "new_enrolments", "transfers_in", "transfers_out", "suspensions",
           "declarations")


class UnitRef(Base):
    __tablename__ = "unit_refs"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)
    account: Mapped[str | None] = mapped_column(String(50), nullable=True, index=True)
    division: Mapped[str] = mapped_column(String(6))
    street: Mapped[str] = mapped_column(String(50))
    disabled: Mapped[bool] = mapped_column(Boolean)
    seq: Mapped[int] = mapped_column(BigInteger)


class UnitPlacement(Base):
    __tablename__ = "unit_placements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    # Events after this log position count under this placement; a unit's
    # first placement holds from the start of the log (0).
    after_position: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    division: Mapped[str] = mapped_column(String(6))
    street: Mapped[str] = mapped_column(String(50))
    __table_args__ = (Index("ix_unit_placements_unit", "unit_id", "after_position"),)


class UnitTarget(Base):
    __tablename__ = "unit_targets"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    target: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str | None] = mapped_column(String(50), nullable=True)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignDay(Base):
    __tablename__ = "campaign_days"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, business time zone
    division: Mapped[str] = mapped_column(String(6), primary_key=True)
    street: Mapped[str] = mapped_column(String(50), primary_key=True)
    increase: Mapped[int] = mapped_column(Integer)
    decrease: Mapped[int] = mapped_column(Integer)
    new_enrolments: Mapped[int] = mapped_column(Integer)
    transfers_in: Mapped[int] = mapped_column(Integer)
    transfers_out: Mapped[int] = mapped_column(Integer)
    suspensions: Mapped[int] = mapped_column(Integer)
    declarations: Mapped[int] = mapped_column(Integer)
    # Covering the daily chart's sum (by day, optionally by division).
    __table_args__ = (Index("ix_campaign_days_day", "day", "division", "increase"),)


class CampaignMonth(Base):
    __tablename__ = "campaign_months"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    division: Mapped[str] = mapped_column(String(6), primary_key=True)
    street: Mapped[str] = mapped_column(String(50), primary_key=True)
    increase: Mapped[int] = mapped_column(Integer)
    decrease: Mapped[int] = mapped_column(Integer)
    new_enrolments: Mapped[int] = mapped_column(Integer)
    transfers_in: Mapped[int] = mapped_column(Integer)
    transfers_out: Mapped[int] = mapped_column(Integer)
    suspensions: Mapped[int] = mapped_column(Integer)
    declarations: Mapped[int] = mapped_column(Integer)
    last_day: Mapped[str] = mapped_column(String(10))  # the last day with a declaration
    __table_args__ = (Index("ix_campaign_months_month", "month"),)


class CampaignBatch(Base):
    __tablename__ = "campaign_batches"
    batch_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))  # finished, business time zone
    division: Mapped[str] = mapped_column(String(6))
    street: Mapped[str] = mapped_column(String(50))
    rows: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_campaign_batches_day", "day"),)


class CampaignReason(Base):
    """The failure reasons of a finished batch: rows refused for each."""
    __tablename__ = "campaign_reasons"
    batch_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[str] = mapped_column(String(10))
    division: Mapped[str] = mapped_column(String(6))
    street: Mapped[str] = mapped_column(String(50))
    rows: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_campaign_reasons_day", "day"),)


class CampaignYear(Base):
    """A unit's year under one placement: the sums of its days, its last day
    with a declaration, and its finished batches (the dashboard reads these
    few thousand rows instead of summing days and batches)."""
    __tablename__ = "campaign_years"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    division: Mapped[str] = mapped_column(String(6), primary_key=True)
    street: Mapped[str] = mapped_column(String(50), primary_key=True)
    increase: Mapped[int] = mapped_column(Integer)
    decrease: Mapped[int] = mapped_column(Integer)
    new_enrolments: Mapped[int] = mapped_column(Integer)
    transfers_in: Mapped[int] = mapped_column(Integer)
    transfers_out: Mapped[int] = mapped_column(Integer)
    suspensions: Mapped[int] = mapped_column(Integer)
    declarations: Mapped[int] = mapped_column(Integer)
    last_day: Mapped[str] = mapped_column(String(10))
    batches: Mapped[int] = mapped_column(Integer)
    batch_rows: Mapped[int] = mapped_column(Integer)
    batch_failed: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_campaign_years_year", "year", "division"),)


class CampaignYearReason(Base):
    """Rows refused for each failure reason in a unit's year under one placement."""
    __tablename__ = "campaign_year_reasons"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    division: Mapped[str] = mapped_column(String(6), primary_key=True)
    street: Mapped[str] = mapped_column(String(50), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("ix_campaign_year_reasons_year", "year", "division"),)


CAMPAIGN_PROJECTIONS = (CampaignDay.__table__, CampaignMonth.__table__, CampaignBatch.__table__,
                        CampaignReason.__table__, CampaignYear.__table__, CampaignYearReason.__table__)

PROJECTIONS = PROJECTIONS + CAMPAIGN_PROJECTIONS


# The store's data keys, wrapped by master keys that never enter the database
# (common/protect/sql.py, docs/protection.md).
DataKeys = data_keys_table(Base.metadata)
