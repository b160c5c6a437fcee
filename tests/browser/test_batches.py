"""批量城乡居民参保 and 批量城乡居民暂停参保: template, import with progress,
the results dialog, 下载失败数据, 查看记录, and 批量提交记录."""
import re

import openpyxl
from playwright.sync_api import expect

from tests.browser.conftest import field, login, open_menu, shot
from tests.browser.test_declarations import enrol_by_api, person_no
from tests.factories import enrolment

ENROLMENT_COLUMNS = {"证件类型": "cert_type", "证件号码": "cert_no", "姓名": "name", "民族": "nation",
                     "人员类别": "category", "联系电话": "phone", "居住地址": "address"}


def fill_template(template, out, rows):
    """Write `rows` (header -> value) under the template's header row."""
    wb = openpyxl.load_workbook(template)
    ws = wb.worksheets[0]
    headers = {str(c.value).replace("*", "").strip(): c.column for c in ws[1] if c.value}
    for r, row in enumerate(rows, start=2):
        for header, value in row.items():
            ws.cell(r, headers[header], value)
    wb.save(out)
    return out


def download_template(page, tmp_path):
    with page.expect_download() as info:
        page.get_by_role("button", name="下载模板").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    path = tmp_path / "template.xlsx"
    info.value.save_as(path)
    return path


def import_file(page, path):
    form = page.get_by_role("form", name="导入模板并提交")
    form.locator("input[type=file]").set_input_files(path)
    form.get_by_role("button", name="导入模板并提交").click()
    dialog = page.get_by_role("dialog", name="导入结果")
    expect(dialog).to_be_visible(timeout=60_000)
    expect(form.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    return dialog


def test_batch_enrolment_with_good_and_bad_rows(page, unit, tmp_path):
    login(page, unit["account"], unit["password"])
    open_menu(page, "批量城乡居民参保")
    template = download_template(page, tmp_path)
    good = [enrolment(person_no()) for _ in range(3)]
    bad_id = enrolment(person_no())
    bad_id["cert_no"] = bad_id["cert_no"][:-1] + ("0" if bad_id["cert_no"][-1] != "0" else "1")
    bad_phone = enrolment(person_no(), phone="12345")
    bad_name = enrolment(person_no(), name='<img src=x onerror="window.__xss=1">')
    people = [good[0], bad_id, good[1], bad_phone, good[2], bad_name]
    rows = [{h: p[k] for h, k in ENROLMENT_COLUMNS.items()} for p in people]
    path = fill_template(template, tmp_path / "参保导入.xlsx", rows)

    dialog = import_file(page, path)
    expect(dialog.get_by_role("status")).to_contain_text("共 6 条，提交成功 3 条，提交失败 3 条")
    failures = dialog.locator("table tbody tr")
    expect(failures).to_have_count(3)
    expect(failures.nth(2)).to_contain_text(bad_name["name"])  # shown as the text it is
    expect(failures.nth(2).locator("img")).to_have_count(0)
    assert page.evaluate("window.__xss") is None
    expect(failures.nth(0)).to_contain_text(bad_id["name"])
    expect(failures.nth(0)).to_contain_text("校验位")
    expect(failures.nth(1)).to_contain_text(bad_phone["name"])
    expect(failures.nth(1)).to_contain_text("联系电话")
    batch_no = dialog.locator("[data-key=批次号]").inner_text()
    shot(page, "40-batch-enrolment-result")

    with page.expect_download() as info:
        dialog.get_by_role("button", name="下载失败数据").click()
    failed = tmp_path / "failed.xlsx"
    info.value.save_as(failed)
    ws = openpyxl.load_workbook(failed).worksheets[0]
    header = [str(c.value or "") for c in ws[1]]
    assert "失败原因" in header
    names = {str(c.value) for row in ws.iter_rows(min_row=2) for c in row if c.value}
    assert bad_id["name"] in names and bad_phone["name"] in names and good[0]["name"] not in names

    dialog.get_by_role("button", name="查看记录").click()
    expect(page.locator("#screen-title")).to_have_text("批量提交记录")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(batch_no)
    expect(rows.first).to_contain_text("批量城乡居民参保")
    expect(rows.first.locator("td").nth(5)).to_have_text("3")
    expect(rows.first.locator("td").nth(6)).to_have_text("3")
    shot(page, "41-batches")

    open_menu(page, "首页")
    info_card = page.get_by_role("region", name="单位基本信息")
    expect(info_card.locator("[data-key=insured_count]")).to_have_text("3")


def test_batch_suspension_and_the_batch_records_filters(page, suite, unit, tmp_path):
    kept, leaving = (enrol_by_api(suite, unit["token"], person_no()) for _ in range(2))
    stranger = enrolment(person_no())
    login(page, unit["account"], unit["password"])
    open_menu(page, "批量城乡居民暂停参保")
    expect(page.get_by_role("region", name="批量提交记录").locator(".empty")).to_have_text("暂无批量提交记录")
    template = download_template(page, tmp_path)
    path = fill_template(template, tmp_path / "暂停.xlsx", [
        {"证件类型": "01", "证件号码": leaving["cert_no"], "姓名": leaving["name"], "暂停原因": "03"},
        {"证件类型": "01", "证件号码": stranger["cert_no"], "姓名": stranger["name"], "暂停原因": "03"},
    ])
    dialog = import_file(page, path)
    expect(dialog.get_by_role("status")).to_contain_text("提交成功 1 条，提交失败 1 条")
    expect(dialog.locator("table tbody tr")).to_have_count(1)
    expect(dialog.locator("table tbody tr").first).to_contain_text("未在本单位参保")
    shot(page, "42-batch-suspension-result")
    dialog.get_by_role("button", name="关闭", exact=True).click()
    expect(dialog).to_be_hidden()
    history = page.get_by_role("region", name="批量提交记录")
    expect(history.locator("table tbody tr")).to_have_count(1)

    # 批量提交记录: filter by 申报类型 and 批次号, then 重置
    open_menu(page, "批量提交记录")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    filters = page.get_by_role("form", name="批量提交记录查询条件")
    field(filters, "申报类型").select_option("enrolment")
    filters.get_by_role("button", name="搜索").click()
    expect(page.locator(".empty")).to_have_text("没有符合条件的批次")
    filters.get_by_role("button", name="重置").click()
    expect(rows).to_have_count(1)
    field(filters, "批次号").fill("NO-SUCH-BATCH")
    filters.get_by_role("button", name="搜索").click()
    expect(page.locator(".empty")).to_be_visible()
    filters.get_by_role("button", name="重置").click()
    rows.first.get_by_role("button", name="详情").click()
    detail = page.get_by_role("dialog", name=re.compile("批次详情"))
    expect(detail.locator("table tbody tr").first).to_contain_text(stranger["name"])
    expect(detail.get_by_role("button", name="下载失败数据")).to_be_visible()


def test_a_batch_waiting_for_a_worker_shows_its_phase_then_its_result(page, suite, unit, tmp_path):
    # With the batch worker stopped, the upload is answered and the batch
    # waits in the queue: the screen says so with its number and a progress
    # bar; once a worker is back the batch is processed and the result shown.
    login(page, unit["account"], unit["password"])
    open_menu(page, "批量城乡居民参保")
    template = download_template(page, tmp_path)
    people = [enrolment(person_no()) for _ in range(2)]
    path = fill_template(template, tmp_path / "排队.xlsx",
                         [{h: p[k] for h, k in ENROLMENT_COLUMNS.items()} for p in people])
    suite.stop_process("batches")
    try:
        form = page.get_by_role("form", name="导入模板并提交")
        form.locator("input[type=file]").set_input_files(path)
        form.get_by_role("button", name="导入模板并提交").click()
        status = form.locator(".progress-text")
        expect(status).to_contain_text(re.compile(r"批次 PL\d{8}-\d{6} 已接收，正在排队等待处理"))
        expect(form.get_by_role("progressbar", name="处理进度")).to_have_attribute("aria-valuenow", "0")
        shot(page, "batch-queued")
        history = page.get_by_role("region", name="批量提交记录")
        expect(history.locator("tbody tr").first).to_contain_text("排队中")
    finally:
        suite.start_process("batches")
    dialog = page.get_by_role("dialog", name="导入结果")
    expect(dialog).to_be_visible(timeout=120_000)
    expect(dialog.get_by_role("status")).to_contain_text("共 2 条，提交成功 2 条，提交失败 0 条")
    dialog.get_by_role("button", name="关闭", exact=True).click()
    expect(page.get_by_role("region", name="批量提交记录").locator("tbody tr").first).to_contain_text("已完成")


def test_a_file_refused_as_a_whole_by_the_worker_says_why(page, unit, tmp_path):
    login(page, unit["account"], unit["password"])
    open_menu(page, "批量城乡居民参保")
    template = download_template(page, tmp_path)  # no data rows: refused once read
    form = page.get_by_role("form", name="导入模板并提交")
    form.locator("input[type=file]").set_input_files(template)
    form.get_by_role("button", name="导入模板并提交").click()
    expect(form.locator(".form-alert")).to_contain_text("没有数据行", timeout=120_000)
    expect(page.get_by_role("region", name="批量提交记录").locator("tbody tr").first).to_contain_text("导入失败")
