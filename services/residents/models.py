"""Tables of the residents service: the roster projection of the declaration
log, each person's history per unit, and the position of the last event
applied (written in the same transaction as the rows it explains)."""
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String
from common.protect.sql import data_keys_table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


# Log positions: 64-bit on PostgreSQL, as in the declarations log.
Position = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Resident(Base):
    """A person's current state: one row per person on the whole platform.

    `unit_id` is the unit the person is active or suspended in; a transfer
    moves the row, so a unit's roster lists only its own residents."""
    __tablename__ = "residents"
    cert_type: Mapped[str] = mapped_column(String(2), primary_key=True)
    # The blind index of the 证件号码 (BlindIndex.cert_no, 32 hex): the person
    # key with cert_type; the number itself is only in `cert_no_enc`.
    cert_no_bidx: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str | None] = mapped_column(String(1), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    nation: Mapped[str | None] = mapped_column(String(2), nullable=True)
    category: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # Personal fields encrypted at rest (docs/protection.md): tokens
    # `v1:<data key>:<base64url>` of the store's FieldProtector. A 200-character
    # Chinese address is 600 UTF-8 bytes, a token of about 840 characters.
    phone_enc: Mapped[str | None] = mapped_column(String(120), nullable=True)
    hukou_address_enc: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    address_enc: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    remark: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # active | suspended
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Position of the event that set `status`: orders persons of equal `since`.
    status_position: Mapped[int] = mapped_column(Position)
    suspension_reason: Mapped[str | None] = mapped_column(String(2), nullable=True)
    updated_position: Mapped[int] = mapped_column(Position)
    # The opaque id list answers give to open the person (BlindIndex.person_id
    # of the key: an HMAC, so found only through this column).
    person_id: Mapped[str] = mapped_column(String(22))
    # 200: a number of 30 characters (identity.MAX_LENGTH), Chinese ones
    # included (南字第...号: 3 bytes each), is a token of at most ~175.
    cert_no_enc: Mapped[str] = mapped_column(String(200))
    __table_args__ = (
        Index("ix_residents_unit_since", "unit_id", "since", "status_position"),
        # No (unit_id, cert_no_bidx) index: a search by 证件号码 goes through
        # the primary key (store.RosterStore._roster_query), one index less
        # to write for every event applied.
        Index("ix_residents_unit_name", "unit_id", "name"),
        Index("ix_residents_unit_status_since", "unit_id", "status", "since", "status_position"),
        Index("ux_residents_person_id", "person_id", unique=True),
    )


class ResidentHistory(Base):
    """What happened to a person in one unit: one row per event and unit.

    A transfer gives two rows: `transfer_in` for the new unit and
    `transfer_out` (without the new unit's identity) for the old one."""
    __tablename__ = "resident_history"
    # One row per event and unit: the key itself, without a serial id
    # (and its index) to write for every row.
    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cert_type: Mapped[str] = mapped_column(String(2))
    cert_no_bidx: Mapped[str] = mapped_column(String(32))
    # new_enrolment | transfer_in | resume | suspension | change | transfer_out
    kind: Mapped[str] = mapped_column(String(20))
    event_type: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the event said beyond its kind; a change's before/after (which
    # hold personal fields) sealed as one token: {"sealed": "v1:..."}.
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # When this service applied the event: the projection's delay, measured.
    projected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_resident_history_person", "unit_id", "cert_type", "cert_no_bidx", "position"),
    )


class Checkpoint(Base):
    """The last position of the declaration log applied to these tables."""
    __tablename__ = "residents_checkpoint"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Position)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The id of the blind-index key the rows' cert_no_bidx and person_id
    # were made with: another key at start-up empties the tables and
    # rebuilds them from the log (subscription.MeteredIntake).
    index_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class UnitVersion(Base):
    """The last log position that changed a unit's roster (a person came,
    left, changed status or name): written with the rows, so a roster total
    counted at that version stays right until it moves, in every instance."""
    __tablename__ = "residents_unit_versions"
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Position)


class FollowedLog(Base):
    """Which log these tables are a projection of: the declaration log's id
    and epoch (common/log_identity.py), written with the checkpoint when
    residents adopts them. Messages of another log or an older epoch are
    dropped; a log that does not share the applied positions empties the
    tables first."""
    __tablename__ = "residents_followed_log"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    log_id: Mapped[str] = mapped_column(String(36))
    epoch: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The store's data keys, wrapped by master keys that never enter the database
# (common/protect/sql.py, docs/protection.md).
DataKeys = data_keys_table(Base.metadata)
