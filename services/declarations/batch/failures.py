"""The failures workbook of a batch: the current template of its business
type holding the rejected rows as the user typed them, plus 失败原因; it can
be corrected and imported again like any filled-in template."""
from services.declarations.batch import template


def workbook(business_type, failures, limits):
    """.xlsx bytes of `failures` ([{row, reason, values}], as stored)."""
    rows = [f.get("values") or {"cert_no": f.get("cert_no"), "name": f.get("name")} for f in failures]
    reasons = [f"第{f['row']}行：{f['reason']}" for f in failures]
    return template.build(business_type, limits.max_rows, limits.max_bytes // (1024 * 1024),
                          rows=rows, reasons=reasons)


def file_name(batch_no):
    return f"{batch_no}失败明细.xlsx"
