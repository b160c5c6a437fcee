"""Tables of the auth service."""
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The operator's workbench (services/auth/units.py): county-level division
    # (common/divisions.py), 乡镇/街道, contact, and whether it may sign in.
    division: Mapped[str] = mapped_column(String(6), server_default="000000", index=True)
    street: Mapped[str] = mapped_column(String(50), server_default="")
    contact: Mapped[str | None] = mapped_column(String(50), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Failures before this moment no longer count towards a lockout (an unlock).
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # When the password was last set (expiry), and whether it was set by someone
    # else (generated, reset) and must be changed before anything else.
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The second factor: the TOTP secret (base32) and the last time step used.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Session(Base):
    """A login. Only the SHA-256 of the token is stored."""
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Last use as auth saw it (written at most once a minute): the idle timeout.
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginAttempt(Base):
    """Every login attempt: the audit trail and the input of the lockout rule."""
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    success: Mapped[bool] = mapped_column()
    __table_args__ = (
        Index("ix_login_attempts_account_at", "account", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )


class UnitChange(Base):
    """What happened to a unit, by whom and when (services/auth/units.py):
    its creation and every change an operator made. Also the feed the
    declarations service copies units' divisions from (`unit_changes_after`),
    so `id` only grows and each row holds the unit as it was after it."""
    __tablename__ = "unit_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(50), nullable=True)
    action: Mapped[str] = mapped_column(String(20))  # created | updated | migrated | imported
    changes: Mapped[dict] = mapped_column(JSON)  # {field: [before, after]}
    unit: Mapped[dict] = mapped_column(JSON)  # {name, credit_code, account, division, street, disabled}


class UnitImport(Base):
    """One import of units from Excel: its totals, its refused rows (with
    the values as typed, for the failures workbook) and, until the operator
    downloads it once, the workbook of the generated initial passwords."""
    __tablename__ = "unit_imports"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(50), nullable=True)
    total: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    failures: Mapped[list] = mapped_column(JSON)
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class PasswordHistory(Base):
    """Every password an account had (argon2 hashes): new ones may not repeat the last few."""
    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """One-time recovery codes of a second factor (SHA-256 only)."""
    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MfaChallenge(Base):
    """The step between a right password and the second factor. Only the
    SHA-256 of its token is stored; an enrolment keeps the new secret and
    the recovery codes' hashes here until a first code confirms them."""
    __tablename__ = "mfa_challenges"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enrol_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enrol_codes: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # space-separated hashes
