"""The batch RPCs of the declarations container with a batch worker
container beside it, on the real broker: files travel base64-encoded, the
upload is answered at once and the worker finishes it, refusals on receipt
arrive as their own error classes, the rest as failed batches."""
import base64
import io
import time

import openpyxl
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from common.errors import InvalidInput, NotFound, TooLarge, UnsupportedFile
from services.declarations.batch.worker import BatchWorker
from services.declarations.models import Base
from services.declarations.service import DeclarationsService
from tests import fixtures_xlsx as fx

pytestmark = pytest.mark.integration

U = {"id": 1, "name": "东海社区居民委员会", "credit_code": "91350503MA2Y8K3Q0A"}
V = {"id": 2, "name": "西湖社区居民委员会", "credit_code": "91350503MA2Y8K3Q0B"}
ACTOR = {"account": "donghai", "request_id": "req-1", "address": "10.0.0.1"}
IDS = fx.many_ids(10)


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def rpc(container_factory, service_config, tables):
    tables(Base, service_config["DATABASE_URL"])
    config = {**service_config, "BUSINESS_TZ": "Asia/Shanghai", "MAX_UPLOAD_ROWS": 5,
              "BATCH_POLL_INTERVAL": 0.1, "BATCH_WORKER_NICE": 0}
    container_factory(DeclarationsService, config).start()
    container_factory(BatchWorker, config).start()
    with ServiceRpcProxy("declarations", config) as proxy:
        yield proxy


def finished(rpc, unit, submitted, timeout=60):
    """The batch once the worker container has finished it."""
    deadline = time.monotonic() + timeout
    while True:
        batch = rpc.get_batch(unit["id"], submitted["batch_no"])
        if batch["status"] in ("done", "failed"):
            return batch
        assert time.monotonic() < deadline, f"batch still {batch['status']}"
        time.sleep(0.1)


def test_submit_list_read_and_download_over_rpc(rpc):
    data = fx.filled("enrolment", [fx.enrolment_row(IDS[0]), fx.enrolment_row(IDS[1], phone="1")])
    submitted = rpc.submit_batch(U, ACTOR, "enrolment", "C:\\fakepath\\参保.xlsx", b64(data))
    assert (submitted["status"], submitted["file_name"]) == ("queued", "参保.xlsx")
    result = finished(rpc, U, submitted)
    assert (result["status"], result["succeeded"], result["failed"]) == ("done", 1, 1)
    assert rpc.submit_batch(U, ACTOR, "enrolment", "x.xlsx", b64(data))["duplicate"] is True
    listed = rpc.list_batches(U["id"], {"business_type": "enrolment"}, 1, 20)
    assert listed["total"] == 1 and listed["items"][0]["batch_no"] == result["batch_no"]
    assert rpc.get_batch(U["id"], result["batch_no"])["failures"][0]["row"] == 3
    failures = rpc.batch_failures_file(U["id"], result["batch_no"])
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(failures["content"])))
    assert wb["城乡居民参保"]["B2"].value == IDS[1]
    record = rpc.list_records(U["id"], {"batch_no": result["batch_no"]}, 1, 20)["items"][0]
    assert record["batch_no"] == result["batch_no"]
    event = rpc.events_after(0, 10)["items"][0]
    assert event["unit"] == U and event["batch_no"] == result["batch_no"]


def test_another_units_batch_is_not_found(rpc):
    data = fx.filled("enrolment", [fx.enrolment_row(IDS[0])])
    result = finished(rpc, U, rpc.submit_batch(U, ACTOR, "enrolment", "a.xlsx", b64(data)))
    with pytest.raises(NotFound):
        rpc.get_batch(V["id"], result["batch_no"])
    with pytest.raises(NotFound):
        rpc.batch_failures_file(V["id"], result["batch_no"])


def test_refusals_on_receipt_arrive_as_their_own_classes_and_the_rest_fail_the_batch(rpc):
    with pytest.raises(UnsupportedFile):
        rpc.submit_batch(U, ACTOR, "enrolment", "a.csv", b64(fx.csv_bytes()))
    with pytest.raises(InvalidInput):
        rpc.submit_batch(U, ACTOR, "change", "a.xlsx", b64(fx.filled("enrolment", [])))
    assert rpc.list_batches(U["id"], {}, 1, 20)["total"] == 0
    empty = finished(rpc, U, rpc.submit_batch(U, ACTOR, "enrolment", "a.xlsx", b64(fx.filled("enrolment", []))))
    assert (empty["status"], empty["error"], empty["reason"]) == ("failed", InvalidInput.code, "no_rows")
    assert "没有数据行" in empty["message"]


def test_the_row_limit_comes_from_the_service_config(rpc):
    data = fx.filled("enrolment", [fx.enrolment_row(i) for i in IDS[:6]])
    batch = finished(rpc, U, rpc.submit_batch(U, ACTOR, "enrolment", "a.xlsx", b64(data)))
    assert (batch["status"], batch["error"]) == ("failed", TooLarge.code) and "5" in batch["message"]
    assert rpc.events_after(0, 10)["items"] == []


def test_the_template_over_rpc_states_the_configured_limit(rpc):
    download = rpc.batch_template("enrolment")
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(download["content"])))
    text = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "最多5行" in text
