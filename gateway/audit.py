"""What the gateway writes to the audit trail, in one place.

After every request (an `after_request` hook, so no route has to remember)
the endpoint decides:

* a read that carries personal data (PERSONAL_READS, and any other GET of
  the personal-data areas PERSONAL_AREAS) is audited, and a 2xx answer of
  it is released only once the broker has confirmed its record. If the
  audit trail is unavailable — the publisher is not connected, the audit
  service is not consuming, or the confirm does not come — the answer is
  replaced by a 503 `audit_unavailable` (fail closed). AUDIT_FAIL_OPEN=1
  lets such answers through (development only: logged at start, and the
  gateway refuses to start with it when EDT_ENV=production);
* every write (POST, PUT, PATCH, DELETE under /api/) is audited — sign-in
  and its failures and lockouts, sign-out, password changes, declarations
  with their record id, batches with their batch number, notices, units,
  accounts — without changing its answer: the record is waited for up to
  AUDIT_CONFIRM_SECONDS and otherwise left to the publisher, which sends it
  when the broker is back;
* anything else is not audited.

A record's object is the person's key or the filters of the request (its
path arguments and query), plus for writes a few named fields of the body
and the answer (never a password: only BODY_FIELDS are read)."""
import logging
import os

from flask import current_app, g, request

from common.audit import AuditPublisher, record as audit_record
from gateway import security
from gateway.errors import error_body

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "审计服务暂不可用，暂不能查看个人信息，请稍后重试"

# Reads that carry personal data: endpoint -> action.
PERSONAL_READS = {
    "residents.list_residents": "roster.list",
    "residents.person": "roster.person",
    "residents.person_by_id": "roster.person",
    "residents.lookup": "roster.lookup",
    "residents.export": "roster.export",
    "declarations.list_records": "records.list",
    "declarations.get_record": "records.detail",
    "batches.get_batch": "batch.detail",
    "batches.failures_file": "batch.failures_file",
    "events.events": "events.feed",
    "audit.search": "audit.search",
    "audit.export": "audit.export",
}
# Any other GET of these areas is taken to carry personal data too (action:
# its endpoint), so a read added later is audited until it is named above.
PERSONAL_AREAS = ("residents", "declarations", "events", "audit")
# GETs of those areas that carry none.
NOT_PERSONAL = {"batches.template", "batches.list_batches"}
# Personal reads whose answer is a list or a file: their object is the
# filters. Any other personal read answers one person (or one record of
# one), whose 证件号码 is taken from the answer when the request does not
# name it (e.g. a person opened by an opaque id).
LISTS_AND_FILES = {"residents.list_residents", "residents.export", "residents.lookup",
                   "declarations.list_records", "batches.get_batch", "batches.failures_file",
                   "events.events", "audit.search", "audit.export"}

# Writes: endpoint -> action (others: their endpoint name).
WRITES = {
    "auth.login": "auth.login",
    "auth.logout": "auth.logout",
    "auth.change_password": "auth.password_change",
    "declarations.enrol": "declaration.enrolment",
    "declarations.suspend": "declaration.suspension",
    "declarations.change": "declaration.change",
    "batches.import_batch": "batch.submit",
    "admin.create_unit": "unit.create",
    "admin.update_unit": "unit.change",
    "admin.reset_unit_password": "unit.password_reset",
    "admin.unlock_unit": "unit.unlock",
    "admin.create_account": "account.create",
    "admin.reset_account_password": "account.password_reset",
    "admin.reset_second_factor": "account.mfa_reset",
    "admin.unlock_account": "account.unlock",
    "notices.publish_notice": "notice.publish",
    "notices.edit_notice": "notice.edit",
    "notices.withdraw_notice": "notice.withdraw",
}
BODY_FIELDS = ("account", "cert_type", "cert_no", "name", "business_type", "title", "credit_code", "role",
               "division", "street", "disabled", "reason", "pinned", "target", "unit_id")
ANSWER_FIELDS = ("record_id", "batch_no", "id", "account", "action", "business_type", "role", "duplicate",
                 "mfa_required", "mfa_enrolment_required", "must_change_password")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
ANSWER_MAX = 64 * 1024  # bytes of a write's answer read for ANSWER_FIELDS


def outcome_of(status):
    if status < 400:
        return "success"
    return {403: "denied", 404: "not_found", 423: "locked", 429: "rate_limited"}.get(
        status, "error" if status >= 500 else "failure")


def classify(endpoint, method, path):
    """(action, personal) for a request, or None when it is not audited."""
    if not endpoint:
        return None
    if method in ("GET", "HEAD"):
        if endpoint in PERSONAL_READS:
            return PERSONAL_READS[endpoint], True
        if endpoint.split(".", 1)[0] in PERSONAL_AREAS and endpoint not in NOT_PERSONAL:
            return endpoint, True
        return None
    if method in WRITE_METHODS and path.startswith("/api/"):
        return WRITES.get(endpoint, endpoint), False
    return None


def _scalar(value):
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def object_of(response, personal):
    obj = {key: _scalar(value) for key, value in (request.view_args or {}).items()}
    for key in request.args:
        obj[key] = request.args.get(key)
    if personal and "cert_no" not in obj and request.endpoint not in LISTS_AND_FILES:
        answer = _small_json(response)
        person = answer.get("person") if isinstance(answer, dict) and isinstance(answer.get("person"), dict) \
            else answer
        if isinstance(person, dict):
            obj.update({key: _scalar(person[key]) for key in ("cert_type", "cert_no") if key in person})
    if not personal:
        body = request.get_json(silent=True) if request.is_json else None
        if isinstance(body, dict):
            obj.update({key: _scalar(body[key]) for key in BODY_FIELDS if key in body})
            if isinstance(body.get("changes"), dict):
                obj["changed_fields"] = sorted(body["changes"])
        if request.files:
            upload = next(iter(request.files.values()))
            obj["file_name"] = upload.filename
        answer = _small_json(response)
        if isinstance(answer, dict):
            obj.update({key: _scalar(answer[key]) for key in ANSWER_FIELDS if key in answer})
    obj["status"] = response.status_code
    return obj


def _small_json(response):
    """The answer's JSON when it is JSON and small, else None."""
    if (response.is_json and 200 <= response.status_code < 300 and not response.direct_passthrough
            and (response.content_length or 0) <= ANSWER_MAX):
        return response.get_json(silent=True)
    return None


def who(response):
    """(account, role, unit_id) of the caller: the checked token's, or for a
    sign-in the account it named (and its role once signed in)."""
    principal = g.get("principal")
    if not principal and response.status_code == 403 and request.headers.get("Authorization"):
        principal = refused_principal()
    if principal:
        return principal.get("account"), principal.get("role"), principal.get("unit_id")
    account = role = unit_id = None
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict) and isinstance(body.get("account"), str):
        account = body["account"][:64]
    answer = _small_json(response)
    if isinstance(answer, dict):
        role = answer.get("role") if isinstance(answer.get("role"), str) else None
        unit = answer.get("unit")
        unit_id = unit.get("id") if isinstance(unit, dict) else None
    return account, role, unit_id


def refused_principal():
    """Who was refused a route of another role (the token was checked, and
    its answer is in the principal cache)."""
    try:
        return security.authenticate(security.bearer_token())
    except Exception:
        return None


def publisher():
    return current_app.extensions["audit"]


def unavailable():
    return error_body(503, "audit_unavailable", UNAVAILABLE_MESSAGE)


def after_request(response):
    kind = classify(request.endpoint, request.method, request.path)
    if kind is None:
        return response
    action, personal = kind
    try:
        account, role, unit_id = who(response)
        item = audit_record(
            action, outcome_of(response.status_code), account=account, role=role, unit_id=unit_id,
            address=request.remote_addr, request_id=g.get("request_id"), object=object_of(response, personal))
    except Exception:  # a record that cannot be built must not cost the answer its audit
        log.exception("audit: could not build the record of %s", request.endpoint)
        if personal and 200 <= response.status_code < 300 and not current_app.config["AUDIT_FAIL_OPEN"]:
            return unavailable()
        return response
    audit = publisher()
    wait = current_app.config["AUDIT_CONFIRM_SECONDS"]
    if personal and 200 <= response.status_code < 300:
        if current_app.config["AUDIT_FAIL_OPEN"]:
            audit.submit(item)
            return response
        if not audit.wait_ready(wait):
            item["outcome"] = "withheld"
            audit.submit(item)  # sent once the broker is back: the attempt is on record
            return unavailable()
        ticket = audit.submit(item)
        if not ticket.wait(wait):
            audit.withhold(ticket)
            log.warning("audit: record of %s not confirmed in %ss; answer withheld", action, wait)
            return unavailable()
        return response
    ticket = audit.submit(item)
    if not personal:
        ticket.wait(wait)  # on the broker before the answer, when it can be
    return response


def register(app):
    """Install the hook; call after observability.register (so the access
    log and metrics see the final status) and before hardening's headers
    apply (they are added to a replaced answer too)."""
    app.config.setdefault("AUDIT_FAIL_OPEN", os.environ.get("AUDIT_FAIL_OPEN") == "1")
    app.config.setdefault("AUDIT_CONFIRM_SECONDS", float(os.environ.get("AUDIT_CONFIRM_SECONDS", "5")))
    if app.config["AUDIT_FAIL_OPEN"] and os.environ.get("EDT_ENV") == "production":
        raise SystemExit("refusing to start in production with AUDIT_FAIL_OPEN=1")
    app.extensions["audit"] = AuditPublisher(app.config["AMQP_URI"])
    if app.config["AUDIT_FAIL_OPEN"]:
        log.warning("AUDIT_FAIL_OPEN=1: answers with personal data are given even when auditing is down")
    app.after_request(after_request)
