"""Storage API of the auth service: every read and write of its tables.

Use cases run their writes in `store.unit_of_work()` and their reads in
`store.reading()` (common.db.UnitOfWork); a unique key taken meanwhile by
another request comes out of here as `Conflict`, never as a database error."""
import hashlib

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from common.clock import aware, utcnow  # noqa: F401 (re-exported)
from common.db import UnitOfWork
from common.errors import Conflict
from services.auth.models import (
    Account,
    LoginAttempt,
    MfaChallenge,
    PasswordHistory,
    RecoveryCode,
    Session,
    Unit,
)


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def account_taken():
    return Conflict("该账号已被使用", {"account": ["该账号已被使用"]})


def credit_code_taken():
    return Conflict("该统一社会信用代码已登记", {"credit_code": ["该统一社会信用代码已登记"]})


class AuthStore(UnitOfWork):
    def __init__(self, session):
        self.session = session

    # accounts and units
    def account(self, account):
        return self.session.scalar(select(Account).where(Account.account == account))

    def account_by_id(self, account_id):
        return self.session.get(Account, account_id)

    def account_for_update(self, account_id):
        """The account, its row locked until commit (PostgreSQL; SQLite's
        writers are one at a time anyway): a second factor code is used once."""
        return self.session.scalar(
            select(Account).where(Account.id == account_id).with_for_update().execution_options(populate_existing=True))

    def unit_account(self, unit_id):
        return self.session.scalar(select(Account).where(Account.unit_id == unit_id))

    def unit(self, unit_id):
        return self.session.get(Unit, unit_id)

    def unit_by_credit_code(self, code):
        return self.session.scalar(select(Unit).where(Unit.credit_code == code))

    def units(self, offset=0, limit=20):
        total = self.session.scalar(select(func.count()).select_from(Unit))
        rows = self.session.execute(
            select(Unit, Account.account)
            .join(Account, Account.unit_id == Unit.id, isouter=True)
            .order_by(Unit.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return total, rows

    def units_by_ids(self, ids):
        return list(self.session.scalars(select(Unit).where(Unit.id.in_(ids))))

    def add_unit(self, name, credit_code):
        """A new unit; Conflict when its credit code is registered already
        (by a request that committed after the caller looked)."""
        unit = Unit(name=name, credit_code=credit_code, created_at=utcnow())
        try:
            with self.session.begin_nested():  # the transaction outlives a refusal
                self.session.add(unit)
        except IntegrityError:
            raise credit_code_taken() from None
        return unit

    def add_account(self, account, password_hash, role, unit_id=None):
        """A new account; Conflict when the name is taken already."""
        row = Account(
            account=account, password_hash=password_hash, role=role,
            unit_id=unit_id, created_at=utcnow(),
        )
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise account_taken() from None
        return row

    # login attempts and lockout
    def record_attempt(self, account, at, address, success):
        self.session.add(LoginAttempt(account=account, at=at, address=address, success=success))

    def failures_since(self, account, since, unlocked_at=None):
        """Failed attempts after `since`, after the last success and after
        the last unlock by an operator."""
        last_ok = self.session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.account == account, LoginAttempt.success.is_(True)
            )
        )
        start = max(since, aware(last_ok)) if last_ok else since
        if unlocked_at is not None:
            start = max(start, aware(unlocked_at))
        return self.session.scalar(
            select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.account == account,
                LoginAttempt.success.is_(False),
                LoginAttempt.at > start,
            )
        )

    def attempts_since(self, since, account=None, address=None):
        column, value = (LoginAttempt.account, account) if account is not None else (LoginAttempt.address, address)
        return self.session.scalar(
            select(func.count()).select_from(LoginAttempt).where(column == value, LoginAttempt.at > since))

    def logins(self, account, limit=100):
        return list(self.session.scalars(
            select(LoginAttempt).where(LoginAttempt.account == account)
            .order_by(LoginAttempt.at.desc()).limit(limit)
        ))

    # sessions
    def add_session(self, token, account_id, now, expires_at):
        self.session.add(Session(
            token_hash=token_hash(token), account_id=account_id,
            created_at=now, expires_at=expires_at, last_seen_at=now,
        ))

    def session_for(self, token):
        return self.session.get(Session, token_hash(token))

    def revoke(self, token, now):
        self.session.execute(
            update(Session).where(Session.token_hash == token_hash(token), Session.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def revoke_others(self, account_id, keep_token, now):
        self.session.execute(
            update(Session).where(
                Session.account_id == account_id,
                Session.token_hash != token_hash(keep_token),
                Session.revoked_at.is_(None),
            ).values(revoked_at=now)
        )

    def touch(self, token, now):
        self.session.execute(update(Session).where(Session.token_hash == token_hash(token)).values(last_seen_at=now))

    def revoke_all(self, account_id, now):
        """Every live session of the account (a reset by an operator)."""
        self.session.execute(
            update(Session).where(Session.account_id == account_id, Session.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    # administrative accounts
    def accounts_with_roles(self, roles):
        return list(self.session.scalars(select(Account).where(Account.role.in_(roles)).order_by(Account.id)))

    # password history
    def add_password_history(self, account_id, password_hash, now):
        self.session.add(PasswordHistory(account_id=account_id, password_hash=password_hash, created_at=now))

    def recent_password_hashes(self, account_id, limit):
        return list(self.session.scalars(
            select(PasswordHistory.password_hash).where(PasswordHistory.account_id == account_id)
            .order_by(PasswordHistory.id.desc()).limit(limit)
        ))

    # second factor
    def add_challenge(self, token, account_id, now, expires_at, address):
        row = MfaChallenge(token_hash=token_hash(token), account_id=account_id, created_at=now,
                           expires_at=expires_at, address=address)
        self.session.add(row)
        return row

    def challenge(self, token):
        return self.session.get(MfaChallenge, token_hash(token))

    def set_recovery_codes(self, account_id, code_hashes):
        self.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        for h in code_hashes:
            self.session.add(RecoveryCode(account_id=account_id, code_hash=h))

    def unused_recovery_code(self, account_id, code_hash):
        return self.session.scalar(select(RecoveryCode).where(
            RecoveryCode.account_id == account_id, RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None)))

    def recovery_codes_left(self, account_id):
        return self.session.scalar(select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None)))
