"""The gateway's audit hook without a broker: which requests are audited,
and that an answer carrying personal data is refused (503) when its record
cannot be published, unless AUDIT_FAIL_OPEN is set."""
import socket

import pytest

from common import production
from gateway import audit, security
from gateway.app import create_app


@pytest.mark.parametrize(("endpoint", "method", "path", "expected"), [
    ("residents.list_residents", "GET", "/api/residents", ("roster.list", True)),
    ("residents.person", "GET", "/api/residents/01/x", ("roster.person", True)),
    ("residents.person_by_id", "GET", "/api/residents/p/x", ("roster.person", True)),
    ("residents.export", "GET", "/api/residents/export", ("roster.export", True)),
    ("residents.some_new_read", "GET", "/api/residents/new", ("residents.some_new_read", True)),
    ("declarations.get_record", "GET", "/api/declarations/r1", ("records.detail", True)),
    ("batches.failures_file", "GET", "/api/batches/b/failures.xlsx", ("batch.failures_file", True)),
    ("events.events", "GET", "/api/events", ("events.feed", True)),
    ("audit.search", "GET", "/api/audit", ("audit.search", True)),
    ("batches.template", "GET", "/api/batches/template", None),
    ("batches.list_batches", "GET", "/api/batches", None),
    ("unit.summary", "GET", "/api/unit", None),
    ("health.healthz", "GET", "/healthz", None),
    ("auth.login", "POST", "/api/auth/login", ("auth.login", False)),
    ("declarations.enrol", "POST", "/api/declarations/enrolment", ("declaration.enrolment", False)),
    ("admin.some_new_write", "PATCH", "/api/admin/units/1", ("admin.some_new_write", False)),
    (None, "GET", "/nowhere", None),
])
def test_what_is_audited(endpoint, method, path, expected):
    assert audit.classify(endpoint, method, path) == expected


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "success"), (201, "success"), (204, "success"), (400, "failure"), (401, "failure"),
    (403, "denied"), (404, "not_found"), (409, "failure"), (423, "locked"), (429, "rate_limited"),
    (503, "error"),
])
def test_outcome_of_a_status(status, outcome):
    assert audit.outcome_of(status) == outcome


class FakeResidents:
    def roster(self, unit_id, filters, page, size):
        return {"items": [{"cert_no": "350502199001011234", "name": "张三"}], "total": 1, "page": page, "size": size}


class FakePool:
    class Cluster:
        residents = FakeResidents()

    def proxy(self):
        return self.Cluster()

    def close(self):
        pass


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_client(monkeypatch):
    monkeypatch.setattr(security, "authenticate", lambda token: {
        "account": "unit_a", "role": "unit", "unit_id": 7,
        "unit": {"id": 7, "name": "测试社区", "credit_code": "x"}, "expires_at": None})
    apps = []

    def make(**config):
        # a broker that is not there: the publisher can never connect
        app = create_app({"TESTING": True, "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{closed_port()}//",
                          **config})
        app.extensions["rpc"] = FakePool()
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["audit"].stop(timeout=1)


def test_personal_data_is_refused_when_its_record_cannot_be_published(make_client):
    client = make_client()
    r = client.get("/api/residents", headers={"Authorization": "Bearer t"})
    assert r.status_code == 503
    assert r.get_json() == {"error": "audit_unavailable", "message": "审计服务暂不可用，暂不能查看个人信息，请稍后重试",
                            "details": {}}
    assert "350502199001011234" not in r.get_data(as_text=True)
    assert r.headers["X-Request-ID"]  # the replaced answer still goes through the other hooks


def test_the_refused_answer_is_kept_as_withheld_for_when_the_broker_is_back(make_client):
    client = make_client()
    client.get("/api/residents", headers={"Authorization": "Bearer t", "X-Request-ID": "req-1"})
    publisher = client.application.extensions["audit"]
    [ticket] = list(publisher._pending)
    assert ticket.record["outcome"] == "withheld" and ticket.record["request_id"] == "req-1"
    assert ticket.record["account"] == "unit_a" and ticket.record["unit_id"] == 7


def test_fail_open_gives_the_answer_and_keeps_the_record(make_client):
    client = make_client(AUDIT_FAIL_OPEN=True)
    r = client.get("/api/residents", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200
    assert r.get_json()["items"][0]["cert_no"] == "350502********1234"  # a list is masked at the gateway too
    assert client.application.extensions["audit"].pending() == 1


def test_an_answer_without_personal_data_is_not_affected(make_client):
    client = make_client()
    assert client.get("/healthz").status_code == 200
    assert client.application.extensions["audit"].pending() == 0


def test_fail_open_is_refused_in_production(monkeypatch):
    monkeypatch.setenv("EDT_ENV", "production")
    monkeypatch.setattr(production, "check", lambda env=None: None)  # the other settings are not the point
    with pytest.raises(SystemExit, match="AUDIT_FAIL_OPEN"):
        create_app({"TESTING": True, "AUDIT_FAIL_OPEN": True})


class FakeDeclarations:
    def get_record(self, unit_id, record_id):
        return {"record_id": record_id, "cert_type": "01", "cert_no": "350502199001011234", "name": "张三"}


def test_a_detail_read_names_the_person_it_showed(make_client, monkeypatch):
    """A record (or a person opened by an opaque id) names the person only
    in its answer: the record takes the 证件号码 from there."""
    monkeypatch.setattr(FakePool.Cluster, "declarations", FakeDeclarations(), raising=False)
    client = make_client(AUDIT_FAIL_OPEN=True)
    assert client.get("/api/declarations/r-1", headers={"Authorization": "Bearer t"}).status_code == 200
    [ticket] = list(client.application.extensions["audit"]._pending)
    assert ticket.record["action"] == "records.detail"
    assert ticket.record["object"] == {"record_id": "r-1", "cert_type": "01", "cert_no": "350502199001011234",
                                       "status": 200}


class FakePersons:
    def person_by_id(self, unit_id, person_id):
        return {"person_id": person_id, "cert_type": "01", "cert_no": "350502199001011234", "name": "张三",
                "status": "active", "since": "2026-01-01T08:00:00+08:00", "history": []}


def test_a_person_opened_by_its_id_is_on_record_as_a_details_read_naming_the_person(make_client, monkeypatch):
    monkeypatch.setattr(FakePool.Cluster, "residents", FakePersons(), raising=False)
    client = make_client(AUDIT_FAIL_OPEN=True)
    r = client.get("/api/residents/p/AAAAAAAAAAAAAAAAAAAAAA", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200 and r.get_json()["cert_no"] == "350502199001011234"
    [ticket] = list(client.application.extensions["audit"]._pending)
    assert ticket.record["action"] == "roster.person"
    assert ticket.record["object"] == {"person_id": "AAAAAAAAAAAAAAAAAAAAAA", "cert_type": "01",
                                       "cert_no": "350502199001011234", "status": 200}


def test_every_named_write_and_read_is_a_real_endpoint():
    """The tables name endpoints as Flask knows them: a renamed view would
    otherwise fall back to its endpoint name without anyone noticing."""
    app = create_app({"TESTING": True})
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    named = set(audit.PERSONAL_READS) | set(audit.WRITES) | audit.NOT_PERSONAL | audit.LISTS_AND_FILES
    assert named - endpoints == set()
