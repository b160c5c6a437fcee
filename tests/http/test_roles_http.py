"""Separation of duties, generated from /api/openapi.json: every operation ×
every role (unit, downstream, admin, secadmin, auditor, anonymous) is
answered as the matrix below says — refused (401 without a token, 403 for
a role the operation does not name) or served (anything else).

The matrix is written out here by area, independently of the routes'
`x-roles`, so a route that names a wrong role fails twice: its x-roles
differ from the matrix, and its answers do."""
import re

import pytest

from tests.suite import ADMIN_PASSWORD, AUDITOR_PASSWORD, SECADMIN_PASSWORD

ROLES = ("unit", "downstream", "admin", "secadmin", "auditor", "anonymous")
EVERYONE = ("unit", "downstream", "admin", "secadmin", "auditor")
PUBLIC = "public"  # no token needed: everyone, anonymous included

# (method, path pattern) -> the roles served, first match wins.
MATRIX = [
    ("post", r"/api/auth/(login|mfa|mfa/enrol)", PUBLIC),
    ("get", r"/(healthz|readyz|api/codes)", PUBLIC),
    ("post", r"/api/auth/logout", EVERYONE),
    ("put", r"/api/auth/password", EVERYONE),
    # the security administrator: administrative and downstream accounts
    (".*", r"/api/admin/accounts.*", ("secadmin",)),
    # a unit's credentials: system and security administrators
    ("post", r"/api/admin/units/\{\w+\}/(password-reset|unlock)", ("admin", "secadmin")),
    # the audit trail: the auditor alone
    (".*", r"/api/audit.*", ("auditor",)),
    # everything else of the administration: the system administrator
    (".*", r"/api/admin/.*", ("admin",)),
    ("get", r"/api/notices.*", ("unit", "admin")),
    ("get", r"/api/events", ("downstream", "admin")),
    (".*", r"/api/(unit|residents|declarations|batches).*", ("unit",)),
]


def expected(method, path):
    for m, pattern, roles in MATRIX:
        if re.fullmatch(m, method) and re.fullmatch(pattern, path):
            return roles
    raise AssertionError(f"{method.upper()} {path} is not in the matrix of test_roles_http.py: add it")


def operations(suite):
    doc = suite.api("GET", "/api/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, op


def fill(path):
    # ids that name nothing: an allowed call is then a 400 or 404, never a change
    return re.sub(r"\{(\w+)\}", lambda m: "01" if m.group(1) == "cert_type" else "999999", path)


@pytest.fixture(scope="module")
def tokens(suite):
    """A token of every role, its password changed where that was due."""
    secadmin = suite.login("secadmin", SECADMIN_PASSWORD)
    made = {}
    for role in ("downstream",):
        account = f"matrix_{role}_{suite.port}"
        r = suite.api("POST", "/api/admin/accounts", secadmin,
                      json={"account": account, "role": role, "password": "Temporary#2026"})
        assert r.status_code == 201, r.text
        first = suite.login(account, "Temporary#2026")
        r = suite.api("PUT", "/api/auth/password", first,
                      json={"old_password": "Temporary#2026", "new_password": "Followed#2026"})
        assert r.status_code == 204, r.text
        made[role] = first
    return {
        "unit": suite.new_unit(suite.admin_token)["token"],
        "downstream": made["downstream"],
        # its own admin session: the matrix logs it out at the end
        "admin": suite.login("admin", ADMIN_PASSWORD),
        "secadmin": secadmin,
        "auditor": suite.login("auditor", AUDITOR_PASSWORD),
        "anonymous": None,
    }


def test_x_roles_of_every_operation_are_the_matrix(suite):
    for method, path, op in operations(suite):
        roles = expected(method, path)
        if roles == PUBLIC:
            assert not op.get("x-roles"), f"{method.upper()} {path} is public but names roles"
            continue
        assert sorted(op.get("x-roles") or ()) == sorted(roles), f"{method.upper()} {path}: {op.get('x-roles')}"


def test_no_operation_but_sign_in_is_shared_by_the_auditor_and_another_role(suite):
    for method, path, op in operations(suite):
        roles = set(op.get("x-roles") or ())
        if "auditor" in roles and roles != {"auditor"}:
            assert path.startswith("/api/auth/"), f"{method.upper()} {path} mixes duties: {sorted(roles)}"


def test_every_operation_answers_every_role_as_the_matrix_says(suite, tokens):
    wrong, checked = [], 0
    logouts = []
    for method, path, _ in operations(suite):
        roles = expected(method, path)
        if path == "/api/auth/logout":
            logouts.append(roles)
            continue  # below, last: it ends the tokens
        for role in ROLES:
            r = suite.api(method.upper(), fill(path), tokens[role],
                          json={} if method in ("post", "put", "patch") else None)
            served = roles == PUBLIC or role in roles
            if role == "anonymous" and not served:
                ok = r.status_code == 401
            elif not served:
                ok = r.status_code == 403 and r.json()["error"] == "forbidden"
            else:
                ok = r.status_code not in (401, 403) and r.status_code < 500 or r.status_code == 503
            if not ok:
                wrong.append(f"{role} {method.upper()} {path}: {r.status_code} {r.text[:120]}")
            checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked >= 6 * 40
    # logout: every signed-in role, and never without a token
    assert logouts == [EVERYONE]
    for role in ROLES:
        r = suite.api("POST", "/api/auth/logout", tokens[role])
        assert r.status_code == (401 if role == "anonymous" else 204), (role, r.text)
        if tokens[role]:
            assert suite.api("PUT", "/api/auth/password", tokens[role], json={}).status_code == 401
