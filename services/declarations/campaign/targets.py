"""Yearly targets (参保任务数) of units: set one by one, or from Excel by
credit code or account, with per-row failures like the residents' batches."""
from sqlalchemy import select

from common import sheets
from common.errors import InvalidInput, NotFound
from services.declarations.campaign.tables import UnitRef, UnitTarget

COLUMNS = ("单位名称", "统一社会信用代码", "平台账号", "参保任务数")
REQUIRED = ("统一社会信用代码", "平台账号", "参保任务数")
MAX_TARGET = 1_000_000


def _year(year):
    if not 2000 <= int(year) <= 2100:
        raise InvalidInput("年度不正确", {"year": ["年度不正确"]})
    return int(year)


def _target_error(value):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None, "参保任务数应为整数"
    if str(value).strip() != str(number) or not 0 <= number <= MAX_TARGET:
        return None, f"参保任务数应为0至{MAX_TARGET}的整数"
    return number, None


def _put(session, year, unit_id, target, actor, now):
    row = session.get(UnitTarget, (year, unit_id))
    if row is None:
        session.add(UnitTarget(year=year, unit_id=unit_id, target=target, set_by=actor, set_at=now))
    else:
        row.target, row.set_by, row.set_at = target, actor, now


def set_target(store, year, unit_id, target, actor, now):
    year = _year(year)
    number, error = _target_error(target)
    if error:
        raise InvalidInput(error, {"target": [error]})
    with store.unit_of_work():
        if store.session.get(UnitRef, unit_id) is None:
            raise NotFound("单位不存在")
        _put(store.session, year, unit_id, number, actor, now)
        store.commit()
    return {"year": year, "unit_id": unit_id, "target": number, "set_by": actor, "set_at": now.isoformat()}


def template(store, year):
    """The template, filled with every unit and its current target."""
    year = _year(year)
    with store.reading():
        targets = dict(store.session.execute(select(UnitTarget.unit_id, UnitTarget.target)
                                             .where(UnitTarget.year == year)).all())
        units = store.session.execute(select(UnitRef.unit_id, UnitRef.name, UnitRef.credit_code, UnitRef.account)
                                      .where(UnitRef.disabled.is_(False)).order_by(UnitRef.unit_id)).all()
    rows = [[name, code or "", account or "", targets.get(unit_id, "")] for unit_id, name, code, account in units]
    notes = [f"{year}年度参保任务数：每行一个单位，按统一社会信用代码或平台账号（填写其一）匹配单位。",
             "参保任务数为0至1000000的整数；导入后覆盖原任务数。失败的行可下载“失败原因”文件，修改后再次导入。"]
    return {"file_name": f"{year}年度参保任务数.xlsx",
            "content": sheets.build(COLUMNS, rows, title="参保任务数", notes=notes)}


def import_targets(store, year, content, actor, now):
    year = _year(year)
    rows = sheets.read(content, REQUIRED, max_rows=10000)
    rows = [(n, {"单位名称": "", **v}) for n, v in rows]
    with store.reading():
        by_code, by_account = {}, {}
        for unit_id, code, account in store.session.execute(
                select(UnitRef.unit_id, UnitRef.credit_code, UnitRef.account)):
            if code:
                by_code[code.upper()] = unit_id
            if account:
                by_account[account] = unit_id
    accepted, failures, seen = {}, [], set()
    for number, values in rows:
        code, account = values["统一社会信用代码"].upper(), values["平台账号"]
        reasons = []
        unit_id = by_code.get(code) if code else None
        if code and unit_id is None:
            reasons.append("统一社会信用代码未登记")
        if account:
            other = by_account.get(account)
            if other is None:
                reasons.append("平台账号不存在")
            elif unit_id is not None and other != unit_id:
                reasons.append("统一社会信用代码与平台账号不是同一单位")
            unit_id = unit_id or other
        if not code and not account:
            reasons.append("请填写统一社会信用代码或平台账号")
        target, error = _target_error(values["参保任务数"])
        if error:
            reasons.append(error)
        if unit_id is not None and unit_id in seen and not reasons:
            reasons.append("该单位在本文件中重复")
        if reasons:
            failures.append({"row": number, "account": account or code, "reason": "；".join(reasons),
                             "values": [values.get("单位名称", ""), values["统一社会信用代码"], account,
                                        values["参保任务数"]]})
            continue
        seen.add(unit_id)
        accepted[unit_id] = target
    with store.unit_of_work():
        for unit_id, target in accepted.items():
            _put(store.session, year, unit_id, target, actor, now)
        store.commit()
    failures_file = None
    if failures:
        failures_file = sheets.build(COLUMNS, [f["values"] for f in failures], title="参保任务数",
                                     reasons={i: f["reason"] for i, f in enumerate(failures)})
    return {"year": year, "total": len(rows), "succeeded": len(accepted), "failed": len(failures),
            "failures": [{k: f[k] for k in ("row", "account", "reason")} for f in failures],
            "failures_file": failures_file}
