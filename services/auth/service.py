"""Nameko entrypoints of the auth service."""
import base64
from datetime import timedelta

from nameko.dependency_providers import Config
from nameko.events import EventDispatcher

from common.db import Database
from common.errors import EXPECTED
from common.service import PlatformService, rpc
from services.auth import accounts, rules, units
from services.auth.store import AuthStore, token_hash, utcnow

# Published before a logout or password change answers; every gateway process
# evicts the named tokens from its principal cache (gateway/auth_cache.py).
TOKENS_REVOKED = "tokens_revoked"
# Published after a unit is created or changed; the declarations service
# then copies the change (unit_changes_after) into its unit references.
UNIT_CHANGED = "unit_changed"


class AuthService(PlatformService):
    name = "auth"
    store = Database(AuthStore)
    config = Config()
    dispatch = EventDispatcher()

    def _ttl(self):
        return timedelta(minutes=int(self.config.get("TOKEN_TTL_MINUTES") or 480))

    def _policy(self):
        return rules.policy_from_settings(self.config)

    def _limits(self):
        return {
            "account": int(self.config.get("LOGIN_RATE_PER_ACCOUNT") or rules.RATE_LIMITS["account"]),
            "address": int(self.config.get("LOGIN_RATE_PER_ADDRESS") or rules.RATE_LIMITS["address"]),
        }

    @rpc(expected_exceptions=EXPECTED)
    def login(self, account, password, address=None):
        units.refuse_disabled_login(self.store, account)
        return accounts.login(self.store, account, password, address, utcnow(), self._ttl(), self._limits(),
                              self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def mfa_enrol(self, mfa_token):
        return accounts.enrol(self.store, mfa_token, utcnow(), self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def mfa_verify(self, mfa_token, code, address=None):
        return accounts.verify_mfa(self.store, mfa_token, code, address, utcnow(), self._ttl(), self._limits(),
                                   self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def authenticate(self, token):
        return accounts.authenticate(self.store, token, utcnow(), self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def logout(self, token):
        accounts.logout(self.store, token, utcnow())
        self.dispatch(TOKENS_REVOKED, {"token_hashes": [token_hash(token or "")]})

    @rpc(expected_exceptions=EXPECTED)
    def change_password(self, token, old_password, new_password):
        account, required = accounts.change_password(
            self.store, token, old_password, new_password, utcnow(), self._policy())
        revoked = {"account": account, "except": token_hash(token)}
        if required:  # this token's cached principal says a change is required: it goes too
            revoked["token_hashes"] = [token_hash(token)]
        self.dispatch(TOKENS_REVOKED, revoked)

    # what operators do to accounts (gateway: admin and secadmin, docs/security.md)
    def _ended(self, account):
        self.dispatch(TOKENS_REVOKED, {"account": account, "except": None})

    @rpc(expected_exceptions=EXPECTED)
    def reset_unit_password(self, unit_id):
        answer = accounts.reset_unit_password(self.store, unit_id, utcnow())
        self._ended(answer["account"])
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def unlock_unit(self, unit_id):
        accounts.unlock_unit(self.store, unit_id, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def list_accounts(self):
        return accounts.list_accounts(self.store, utcnow(), self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def create_managed_account(self, account, role, password=None):
        """An account made by a security administrator: its holder changes the password first."""
        return accounts.create_account(self.store, account, password, role, self._policy(), must_change=True)

    @rpc(expected_exceptions=EXPECTED)
    def reset_account_password(self, account, actor=None):
        answer = accounts.reset_account_password(self.store, account, utcnow(), actor)
        self._ended(answer["account"])
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def reset_second_factor(self, account, actor=None):
        self._ended(accounts.reset_second_factor(self.store, account, utcnow(), actor))

    @rpc(expected_exceptions=EXPECTED)
    def unlock_account(self, account, actor=None):
        accounts.unlock_account(self.store, account, utcnow(), actor)

    @rpc(expected_exceptions=EXPECTED)
    def create_unit(self, name, account, credit_code, password=None):
        return accounts.create_unit(self.store, name, account, credit_code, password, self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def create_account(self, account, password, role):
        return accounts.create_account(self.store, account, password, role, self._policy())

    @rpc(expected_exceptions=EXPECTED)
    def list_units(self, page=1, size=20):
        return accounts.list_units(self.store, page, size)

    @rpc(expected_exceptions=EXPECTED)
    def get_unit(self, unit_id):
        return accounts.get_unit(self.store, unit_id)

    @rpc(expected_exceptions=EXPECTED)
    def get_units(self, unit_ids):
        return accounts.get_units(self.store, unit_ids)

    @rpc(expected_exceptions=EXPECTED)
    def unit_logins(self, unit_id, limit=100):
        return accounts.unit_logins(self.store, unit_id, limit)

    # the operator's workbench (services/auth/units.py)
    @rpc(expected_exceptions=EXPECTED)
    def admin_create_unit(self, values, actor=None):
        unit = units.create(self.store, values, actor, utcnow())
        self.dispatch(UNIT_CHANGED, {"unit_id": unit["id"]})
        return unit

    @rpc(expected_exceptions=EXPECTED)
    def admin_list_units(self, filters=None, page=1, size=20):
        return units.list_units(self.store, filters, page, size, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def admin_get_unit(self, unit_id):
        return units.get(self.store, unit_id, utcnow())

    @rpc(expected_exceptions=EXPECTED)
    def admin_update_unit(self, unit_id, values, actor=None):
        unit, ended = units.update_unit(self.store, unit_id, values, actor, utcnow())
        if ended:  # a disabled unit's tokens stop at once in every gateway
            self.dispatch(TOKENS_REVOKED, {"account": ended, "except": None})
        self.dispatch(UNIT_CHANGED, {"unit_id": unit_id})
        return unit

    @rpc(expected_exceptions=EXPECTED)
    def unit_history(self, unit_id):
        return units.history(self.store, unit_id)

    @rpc(expected_exceptions=EXPECTED)
    def unit_changes_after(self, after=0, limit=1000):
        return units.changes_after(self.store, after, limit)

    @rpc(expected_exceptions=EXPECTED)
    def units_template(self):
        return _b64(units.template())

    @rpc(expected_exceptions=EXPECTED)
    def import_units(self, content_b64, actor=None):
        result = units.import_units(self.store, base64.b64decode(content_b64), actor, utcnow())
        if result["succeeded"]:
            self.dispatch(UNIT_CHANGED, {})
        return result

    @rpc(expected_exceptions=EXPECTED)
    def unit_import_failures(self, import_id):
        return _b64(units.import_failures(self.store, import_id))

    @rpc(expected_exceptions=EXPECTED)
    def unit_import_credentials(self, import_id):
        return _b64(units.take_credentials(self.store, import_id, utcnow()))

    @rpc(expected_exceptions=EXPECTED)
    def units_directory(self):
        return units.directory(self.store)


def _b64(file):
    return {"file_name": file["file_name"], "content": base64.b64encode(file["content"]).decode()}
