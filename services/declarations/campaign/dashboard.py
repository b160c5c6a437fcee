"""The campaign dashboard: city → division → 乡镇/街道 → unit figures as of a
day, read from the campaign projections (never from the roster).

As of day D (business time zone; the log up to the end of D), for year Y:
- insured: a unit's count now less its net movements after D, counted under
  the placement the unit had at the end of D (a unit that moved takes its
  insured persons along); target, completion and idle units likewise;
- flows (this month's increase and decrease, this year's new enrolments,
  transfers, suspensions): the days of Y (of D's month) up to D, each under
  the placement its events were appended with (earlier months stay where
  they were);
- batches: those finished in Y up to D, under the placement the unit had
  when each finished;
- last declaration: the unit's last day with a declaration up to D.

Levels: `city` lists the divisions, `division` the streets of one division,
`street` the units of one street, `unit` the units of the whole city or of
the division/street given (for sorting all units). `totals` sums the scope.

Here: the parameters, the per-unit facts read from the projections
(`_facts`), the daily chart and the export; the roll-up of a scope is
rollup.py's, the cache of facts and roll-ups facts_cache.py's.
"""
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from common import sheets
from common.divisions import ALL_DIVISIONS
from common.errors import InvalidInput
from services.declarations.campaign.facts_cache import (
    ADVANCE_LIMIT,
    FactsCache,
    advance,
    appended_only,
    version as facts_version,
)
from services.declarations.campaign.figures import WIDTH
from services.declarations.campaign.placing import NOWHERE, Timeline
from services.declarations.campaign.rollup import IDLE_LIMIT, TOP_REASONS, Rollup
from services.declarations.campaign.tables import (
    FIGURES,
    CampaignBatch,
    CampaignDay,
    CampaignMonth,
    CampaignReason,
    CampaignYear,
    CampaignYearReason,
    UnitRef,
    UnitTarget,
)
from services.declarations.eventlog import read_events
from services.declarations.models import UnitCount, UnitSeen

LEVELS = ("city", "division", "street", "unit")
FIELDS = ("insured", "target", "completion", "month_increase", "month_decrease", "year_new",
          "year_transfer_in", "year_transfer_out", "year_suspended", "batches", "batch_rows",
          "batch_failed_rows", "batch_failure_rate", "last_declared_at")
SORTABLE = FIELDS + ("code", "name")
# (re-exported: workbench.py and the tests name them here)
__all__ = ["ADVANCE_LIMIT", "IDLE_LIMIT", "TOP_REASONS", "FactsCache", "daily", "dashboard", "export", "version"]
CAMPAIGN = ((9, 1), (12, 31))  # 集中参保期, Fujian

HEADERS = {"code": "代码", "name": "名称", "division_name": "所属区县", "street": "乡镇/街道",
           "insured": "参保人数", "target": "参保任务数", "completion": "完成率",
           "month_increase": "本月增员", "month_decrease": "本月减员", "year_new": "本年新参保",
           "year_transfer_in": "本年转入", "year_transfer_out": "本年转出", "year_suspended": "本年暂停",
           "batches": "批量提交次数", "batch_rows": "批量行数", "batch_failed_rows": "批量失败行数",
           "batch_failure_rate": "批量失败率", "top_failure_reasons": "主要失败原因",
           "last_declared_at": "最近申报日期"}


def _core(session):
    """The session's connection: Core rows, without the ORM's result
    processing (half of a dashboard's time when it went through the ORM)."""
    return session.connection()


def _bad(field, message):
    return InvalidInput(message, {field: [message]})


def parse_day(value, field="as_of"):
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise _bad(field, "日期格式应为YYYY-MM-DD") from None


def _params(params, today):
    as_of = parse_day(params.get("as_of")) or today
    year = int(params.get("year") or as_of.year)
    if not 2000 <= year <= 2100:
        raise _bad("year", "年度不正确")
    if as_of.year > year:
        as_of = date(year, 12, 31)
    level = params.get("level") or "city"
    if level not in LEVELS:
        raise _bad("level", "层级应为 city、division、street 或 unit")
    division = params.get("division") or None
    if division and division not in ALL_DIVISIONS:
        raise _bad("division", "所属区县不正确")
    if level in ("division", "street") and not division:
        raise _bad("division", "请选择区县")
    street = params.get("street")
    if level == "street" and street is None:
        raise _bad("street", "请选择乡镇/街道")
    idle_days = int(params.get("idle_days") or 7)
    if not 1 <= idle_days <= 366:
        raise _bad("idle_days", "未申报天数应为1至366")
    sort = params.get("sort") or ("code" if level in ("city", "division") else "-insured")
    if sort.lstrip("-") not in SORTABLE:
        raise _bad("sort", "排序字段不正确")
    return {"as_of": as_of, "year": year, "level": level, "division": division, "street": street,
            "idle_days": idle_days, "sort": sort, "page": max(int(params.get("page") or 1), 1),
            "size": min(max(int(params.get("size") or 50), 1), 5000)}


def _end_of(day, tz):
    return datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)


def _units(session):
    return {r.unit_id: r for r in _core(session).execute(
        select(UnitRef.unit_id, UnitRef.name, UnitRef.disabled, UnitRef.division, UnitRef.street)).all()}


def version(session):
    """What the facts depend on (facts_cache.version)."""
    return facts_version(_core(session))


def dashboard(session, tz, params, today, cache=None):
    """The dashboard's answer for `params`. With `cache` (a FactsCache) the
    facts and roll-ups of earlier answers are reused or brought forward
    while the version says they are still those of the database (an answer
    from the cache equals a fresh read: test_campaign_projection)."""
    p = _params(params, today)
    if cache is None:
        return Rollup(_facts(session, tz, p, today), p).answer(p)
    key = (str(session.get_bind().url), p["year"], p["as_of"], today)
    now_version = version(session)
    entry = cache.entries.get(key)
    if entry is not None and appended_only(entry.version, now_version):
        since = entry.version[0]
        # The figures read no personal field: the events stay sealed.
        events = read_events(_core(session), since, now_version[0] - since, opened=False)
        with cache.lock:
            if entry.version[0] == since and cache.entries.get(key) is entry:
                if not advance(entry, events, tz, now_version):
                    cache.entries.pop(key, None)
    with cache.lock:
        entry = cache.entries.get(key)
        if entry is not None and entry.version == now_version:
            return cache.rollup(entry, p).answer(p)
    facts = _facts(session, tz, p, today)
    with cache.lock:
        entry = cache.entries.get(key)
        if entry is None or entry.version != now_version:
            entry = cache.put(key, now_version, facts)
        return cache.rollup(entry, p).answer(p)


def _sums(session, table, figures, where):
    """{(unit_id, division, street): [sums of `figures`]} of `table` rows."""
    cols = [func.sum(getattr(table, f)) for f in figures]
    out = {}
    for unit_id, division, street, *values in _core(session).execute(
            select(table.unit_id, table.division, table.street, *cols).where(*where)
            .group_by(table.unit_id, table.division, table.street)).all():
        out[(unit_id, division, street)] = [int(v or 0) for v in values]
    return out


def _facts(session, tz, p, today):
    """Per unit (and placement) figures of the year up to `as_of`: read
    from the year and month sums, less the days after `as_of` when it is
    before today (the common case, today, reads a few thousand rows)."""
    as_of, year = p["as_of"], p["year"]
    d, month = as_of.isoformat(), as_of.isoformat()[:7]
    month_start, year_end = month + "-01", f"{year}-12-31"
    end = _end_of(as_of, tz)
    # the days between as_of and today (or the year's end) are taken off the sums
    past = as_of < today and d < year_end
    upto = min(today.isoformat(), year_end)
    refs = _units(session)
    timeline = Timeline(session.connection())
    names = dict(_core(session).execute(select(UnitSeen.unit_id, UnitSeen.name)).all())

    insured = dict(_core(session).execute(select(UnitCount.unit_id, UnitCount.insured_count)).all())
    if as_of < today:
        for unit_id, net in _core(session).execute(
                select(CampaignDay.unit_id, func.sum(CampaignDay.increase - CampaignDay.decrease))
                .where(CampaignDay.day > d).group_by(CampaignDay.unit_id)).all():
            insured[unit_id] = insured.get(unit_id, 0) - int(net or 0)
    targets = dict(_core(session).execute(select(UnitTarget.unit_id, UnitTarget.target)
                                   .where(UnitTarget.year == year)).all())
    where = {}
    for unit_id in set(refs) | set(insured) | set(targets):
        where[unit_id] = timeline.at(unit_id, end) if unit_id in timeline.times else (
            (refs[unit_id].division, refs[unit_id].street) if unit_id in refs else NOWHERE)

    year_flows, batches, last = {}, {}, {}
    year_columns = [getattr(CampaignYear, f) for f in FIGURES]
    for unit_id, division, street, *values in _core(session).execute(
            select(CampaignYear.unit_id, CampaignYear.division, CampaignYear.street, *year_columns,
                   CampaignYear.batches, CampaignYear.batch_rows, CampaignYear.batch_failed)
            .where(CampaignYear.year == year)).all():
        key = (unit_id, division, street)
        year_flows[key] = values[:WIDTH]
        if values[WIDTH]:
            batches[key] = values[WIDTH:]
    month_flows = {(r.unit_id, r.division, r.street): [r.increase, r.decrease] for r in _core(session).execute(
        select(CampaignMonth.unit_id, CampaignMonth.division, CampaignMonth.street, CampaignMonth.increase,
               CampaignMonth.decrease).where(CampaignMonth.month == month)).all()} if month[:4] == str(year) else {}
    reasons = defaultdict(dict)
    for unit_id, division, street, reason, rows in _core(session).execute(
            select(CampaignYearReason.unit_id, CampaignYearReason.division, CampaignYearReason.street,
                   CampaignYearReason.reason, CampaignYearReason.rows).where(CampaignYearReason.year == year)).all():
        reasons[(unit_id, division, street)][reason] = rows
    if past:
        after = [CampaignDay.day > d, CampaignDay.day <= upto]
        for key, values in _sums(session, CampaignDay, FIGURES, after).items():
            entry = year_flows.get(key)
            if entry is not None:
                for i in range(WIDTH):
                    entry[i] -= values[i]
        in_month = [CampaignDay.day > d, CampaignDay.day <= min(upto, month + "-31")]
        for key, values in _sums(session, CampaignDay, ("increase", "decrease"), in_month).items():
            entry = month_flows.get(key)
            if entry is not None:
                entry[0] -= values[0]
                entry[1] -= values[1]
        batch_after = [CampaignBatch.day > d, CampaignBatch.day <= upto]
        for key, values in _sums(session, CampaignBatch, ("rows", "failed"), batch_after).items():
            entry = batches.get(key)
            if entry is not None:
                entry[1] -= values[0]
                entry[2] -= values[1]
        counted = _core(session).execute(
            select(CampaignBatch.unit_id, CampaignBatch.division, CampaignBatch.street, func.count())
            .where(*batch_after).group_by(CampaignBatch.unit_id, CampaignBatch.division, CampaignBatch.street)).all()
        for unit_id, division, street, count in counted:
            entry = batches.get((unit_id, division, street))
            if entry is not None:
                entry[0] -= count
        for unit_id, division, street, reason, rows in _core(session).execute(
                select(CampaignReason.unit_id, CampaignReason.division, CampaignReason.street,
                       CampaignReason.reason, func.sum(CampaignReason.rows))
                .where(CampaignReason.day > d, CampaignReason.day <= upto)
                .group_by(CampaignReason.unit_id, CampaignReason.division, CampaignReason.street,
                          CampaignReason.reason)).all():
            entry = reasons.get((unit_id, division, street))
            if entry is not None and reason in entry:
                entry[reason] -= int(rows or 0)
        # last declaration up to as_of: the months before its month, then its days
        last = dict(_core(session).execute(select(CampaignMonth.unit_id, func.max(CampaignMonth.last_day))
                                    .where(CampaignMonth.month < month).group_by(CampaignMonth.unit_id)).all())
        for unit_id, day in _core(session).execute(
                select(CampaignDay.unit_id, func.max(CampaignDay.day))
                .where(CampaignDay.day >= month_start, CampaignDay.day <= d, CampaignDay.declarations > 0)
                .group_by(CampaignDay.unit_id)).all():
            if day and day > (last.get(unit_id) or ""):
                last[unit_id] = day
    else:
        last = dict(_core(session).execute(select(CampaignYear.unit_id, func.max(CampaignYear.last_day))
                                    .where(CampaignYear.year <= year).group_by(CampaignYear.unit_id)).all())
    cells = {}
    for table in (year_flows, month_flows, batches, reasons):
        for triple in table:
            cells.setdefault(triple[0], set()).add(triple)
    return {"as_of": as_of, "year": year, "live": as_of >= today,
            "refs": refs, "names": names, "where": where, "insured": insured, "targets": targets,
            "year_flows": year_flows, "month_flows": month_flows, "last": last, "batches": batches,
            "reasons": dict(reasons), "cells": {u: sorted(t) for u, t in cells.items()}}


def daily(session, year, division=None):
    """Enrolments of each day of the campaign of `year` beside the same days
    of the year before."""
    (m1, d1), (m2, d2) = CAMPAIGN

    def sums(y):
        where = [CampaignDay.day >= date(y, m1, d1).isoformat(), CampaignDay.day <= date(y, m2, d2).isoformat()]
        if division:
            where.append(CampaignDay.division == division)
        return dict(_core(session).execute(select(CampaignDay.day, func.sum(CampaignDay.increase))
                                    .where(*where).group_by(CampaignDay.day)).all())

    this, last = sums(year), sums(year - 1)
    days, day = [], date(year, m1, d1)
    while day <= date(year, m2, d2):
        try:
            same = day.replace(year=year - 1).isoformat()
        except ValueError:  # 29 February
            same = None
        days.append({"date": day.isoformat(), "enrolments": int(this.get(day.isoformat()) or 0),
                     "last_year": int(last.get(same) or 0) if same else 0})
        day += timedelta(days=1)
    return {"year": year, "division": division, "days": days}


def export(session, tz, params, today):
    """The dashboard's table (every row, in its order) and its idle units as
    an .xlsx."""
    answer = dashboard(session, tz, {**params, "page": 1, "size": 5000}, today)
    level = answer["level"]
    columns = ["code", "name"] + (["division_name", "street"] if level in ("street", "unit") else []) + [
        f for f in FIELDS] + ["top_failure_reasons"]
    rows = []
    for item in [*answer["items"], {**answer["totals"], "code": "", "name": "合计"}]:
        row = []
        for c in columns:
            value = item.get(c)
            if c == "top_failure_reasons":
                value = "；".join(f"{r['reason']}（{r['rows']}）" for r in value or [])
            elif c in ("completion", "batch_failure_rate") and value is not None:
                value = f"{value * 100:.1f}%"
            elif c == "completion" and value is None:
                value = "未下达"
            row.append("" if value is None else value)
        rows.append(row)
    scope = answer["division_name"] or "泉州市"
    if answer["street"]:
        scope += answer["street"]
    notes = [f"{scope} 参保进度（截至 {answer['as_of']}，{answer['year']}年度）",
             f"未申报超过{answer['idle_days']}天的单位：{answer['idle_total']}个（见“未申报单位”表）"]
    content = sheets.build([HEADERS[c] for c in columns], rows, title="参保进度", notes=notes)
    idle_rows = [[u["unit_id"], u["name"], u["division_name"], u["street"], u["last_declared_at"] or "从未申报",
                  u["idle_days"] if u["idle_days"] is not None else "", u["insured"]] for u in answer["idle_units"]]
    idle = sheets.build(["单位ID", "单位名称", "所属区县", "乡镇/街道", "最近申报日期", "未申报天数", "参保人数"],
                        idle_rows, title="未申报单位")
    return {"file_name": f"参保进度-{scope}-{answer['as_of']}.xlsx", "content": _merge(content, idle)}


def _merge(first, second):
    """`first` with the data sheet of `second` added."""
    import io

    from openpyxl import load_workbook

    book, other = load_workbook(io.BytesIO(first)), load_workbook(io.BytesIO(second))
    source = other.active
    sheet = book.create_sheet(source.title, 1)
    for row in source.iter_rows(values_only=True):
        sheet.append(list(row))
    for col, dim in source.column_dimensions.items():
        sheet.column_dimensions[col].width = dim.width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
