// 管理端 · 参保进度: the campaign dashboard, the operator's first screen.
// 泉州市 → 区县 → 乡镇/街道 → 单位 drill-down (the state is in the hash query, so
// the browser's back button climbs back up), sortable columns, 截至日期, the
// units without a declaration for N days, Excel export of the table, and the
// daily enrolments of the campaign beside last year's same days.
import { api, download } from "../api.js";
import { DIVISIONS } from "../codes.js";
import { dataTable, errorBlock, field, h, loadingBlock, replace, scrollBox } from "../dom.js";

const NS = "http://www.w3.org/2000/svg";
const COLUMNS = [
  ["insured", "参保人数"], ["target", "任务数"], ["completion", "完成率"], ["month_increase", "本月增员"],
  ["month_decrease", "本月减员"], ["year_new", "本年新参保"], ["year_transfer_in", "本年转入"],
  ["year_transfer_out", "本年转出"], ["year_suspended", "本年暂停"], ["batches", "批量次数"],
  ["batch_rows", "批量行数"], ["batch_failure_rate", "失败率"], ["last_declared_at", "最近申报"],
];
const NEXT = { city: "division", division: "street", street: null, unit: null };

function pct(v) {
  return v == null ? "未下达" : `${(v * 100).toFixed(1)}%`;
}

function shown(key, v) {
  if (key === "completion") return pct(v);
  if (key === "batch_failure_rate") return v == null ? "—" : `${(v * 100).toFixed(1)}%`;
  if (key === "last_declared_at") return v || "从未申报";
  return v == null ? "" : Number(v).toLocaleString("zh-CN");
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// Daily enrolments through the campaign: this year's line beside last year's.
function dailyChart(days, year) {
  const w = 760;
  const hgt = 220;
  const left = 48;
  const bottom = 28;
  const max = Math.max(4, ...days.map((d) => Math.max(d.enrolments, d.last_year)));
  const x = (i) => left + (i * (w - left - 10)) / Math.max(1, days.length - 1);
  const y = (v) => hgt - bottom - (v * (hgt - bottom - 10)) / max;
  const line = (key) => days.map((d, i) => `${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(" ");
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "chart", role: "img",
    "aria-label": `${year}年集中参保期每日参保人数与上年同期对比` });
  for (let k = 0; k <= 4; k += 1) {
    const v = Math.round((max * k) / 4);
    svg.append(s("line", { x1: left, x2: w - 10, y1: y(v), y2: y(v), stroke: "#e5e7eb" }),
      s("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7280" }, v));
  }
  days.forEach((d, i) => {
    if (d.date.endsWith("-01")) {
      svg.append(s("text", { x: x(i), y: hgt - 8, "font-size": 11, fill: "#6b7280" }, `${Number(d.date.slice(5, 7))}月`));
    }
  });
  svg.append(s("polyline", { points: line("last_year"), fill: "none", stroke: "#9ca3af", "stroke-width": 1.5, "stroke-dasharray": "4 3" }),
    s("polyline", { points: line("enrolments"), fill: "none", stroke: "#1f5fbf", "stroke-width": 2 }));
  const total = days.reduce((a, d) => a + d.enrolments, 0);
  const lastTotal = days.reduce((a, d) => a + d.last_year, 0);
  return h("div", null,
    h("div", { class: "legend" }, h("span", null, `━ ${year}年（合计 ${total.toLocaleString("zh-CN")}）`),
      h("span", null, `┅ ${year - 1}年同期（合计 ${lastTotal.toLocaleString("zh-CN")}）`)),
    scrollBox(h("div", { class: "chart-box" }, svg), "每日参保人数图"));
}

export function render(root, ctx) {
  const q = ctx.query;
  const state = {
    level: q.level || "city", division: q.division || "", street: q.street ?? "", sort: q.sort || "",
    as_of: q.as_of || "", year: q.year || "", idle_days: q.idle_days || "7", page: Number(q.page || 1),
  };
  const go = (changes) => {
    const next = { ...state, ...changes };
    const query = Object.fromEntries(Object.entries(next).filter(([k, v]) => v !== "" && v != null && !(k === "page" && v === 1)));
    ctx.navigate(`/admin/dashboard?${new URLSearchParams(query)}`);
  };
  const params = () => Object.fromEntries(Object.entries({ ...state, size: 50 }).filter(([k, v]) => v !== "" && !(k === "street" && !["street", "unit"].includes(state.level))));

  const year = h("input", { type: "number", min: "2000", max: "2100", value: state.year, placeholder: "当年" });
  const asOf = h("input", { type: "date", value: state.as_of });
  const idle = h("input", { type: "number", min: "1", max: "366", value: state.idle_days });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "统计条件" },
    field({ label: "年度", name: "year", input: year }),
    field({ label: "截至日期", name: "as_of", input: asOf }),
    field({ label: "未申报天数", name: "idle_days", input: idle }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "查询"),
      h("button", { type: "button", class: "btn", onclick: () => download("/api/admin/dashboard/export", params(), "参保进度.xlsx") }, "导出Excel")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ year: year.value, as_of: asOf.value, idle_days: idle.value || "7", page: 1 });
  });

  const crumbs = h("nav", { class: "crumbs", "aria-label": "层级" });
  const divisionName = (code) => (DIVISIONS.find(([c]) => c === code) || [code, code])[1];
  const parts = [h("a", { href: "#/admin/dashboard", onclick: (e) => { e.preventDefault(); go({ level: "city", division: "", street: "", sort: "", page: 1 }); } }, "泉州市")];
  if (state.division) {
    parts.push(" › ", h("a", { href: "#", onclick: (e) => { e.preventDefault(); go({ level: "division", street: "", sort: "", page: 1 }); } }, divisionName(state.division)));
  }
  if (state.level === "street") parts.push(" › ", h("span", null, state.street || "（未填写）"));
  if (state.level === "unit") parts.push(" › ", h("span", null, "全部单位"));
  crumbs.append(...parts, " ",
    h("button", { type: "button", class: "btn btn-small", onclick: () => go({ level: "unit", sort: "completion", page: 1 }) }, "按单位排名"));

  const totals = h("div", { class: "stat-grid" }, loadingBlock());
  const table = h("div", null, loadingBlock());
  const idleBox = h("div", null);
  const chartBox = h("div", null, loadingBlock());
  root.append(h("div", { class: "card" }, form),
    h("div", { class: "card" }, crumbs, totals),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "分项进度")), table),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, `超过${state.idle_days}天未申报的单位`)), idleBox),
    h("div", { class: "card" }, h("div", { class: "card-head" }, h("h2", null, "集中参保期每日参保人数")), chartBox));

  const sortHead = (key, title) => {
    const current = state.sort.replace(/^-/, "");
    const desc = state.sort.startsWith("-");
    const mark = current === key ? (desc ? " ↓" : " ↑") : "";
    return h("button", {
      type: "button", class: "btn-link sort", "aria-label": `按${title}排序`,
      onclick: () => go({ sort: current === key && desc ? key : `-${key}`, page: 1 }),
    }, title + mark);
  };

  const load = async () => {
    try {
      const data = await api("GET", "/api/admin/dashboard", { query: params() });
      const t = data.totals;
      const stat = (label, value) => h("div", { class: "stat" }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value));
      replace(totals,
        stat("截至", data.as_of), stat("参保人数", shown("insured", t.insured)), stat("参保任务数", shown("target", t.target)),
        stat("完成率", pct(t.completion)), stat("本月增员 / 减员", `${shown("", t.month_increase)} / ${shown("", t.month_decrease)}`),
        stat("本年新参保", shown("", t.year_new)), stat("本年转入 / 转出", `${shown("", t.year_transfer_in)} / ${shown("", t.year_transfer_out)}`),
        stat("本年暂停", shown("", t.year_suspended)),
        stat("批量提交", `${shown("", t.batches)}次 · ${shown("", t.batch_rows)}行 · 失败率${shown("batch_failure_rate", t.batch_failure_rate)}`),
        stat("主要失败原因", t.top_failure_reasons.length ? t.top_failure_reasons.map((r) => `${r.reason}（${r.rows}）`).join("；") : "无"));
      const next = NEXT[data.level];
      const nameCell = (row) => {
        if (next === "division") return h("a", { href: "#", onclick: (e) => { e.preventDefault(); go({ level: "division", division: row.code, sort: "", page: 1 }); } }, row.name);
        if (next === "street") return h("a", { href: "#", onclick: (e) => { e.preventDefault(); go({ level: "street", street: row.code, sort: "", page: 1 }); } }, row.name);
        return row.name;
      };
      const columns = [{ title: sortHead("name", data.level === "city" ? "区县" : data.level === "division" ? "乡镇/街道" : "单位"), render: nameCell, class: "nowrap" }];
      if (data.level === "unit") columns.push({ title: "区县 / 街道", render: (r) => `${r.division_name || ""} ${r.street || ""}` });
      for (const [key, title] of COLUMNS) columns.push({ title: sortHead(key, title), render: (r) => shown(key, r[key]), class: "num" });
      columns.push({ title: "主要失败原因", render: (r) => r.top_failure_reasons.slice(0, 2).map((x) => `${x.reason}（${x.rows}）`).join("；") });
      const pages = Math.max(1, Math.ceil(data.total_items / data.size));
      replace(table, dataTable(columns, data.items, { caption: "分项进度", empty: "暂无数据" }),
        pages > 1 ? h("nav", { class: "pager", "aria-label": "分页" }, h("span", null, `共 ${data.total_items} 条`),
          h("button", { type: "button", class: "btn btn-small", disabled: data.page <= 1, onclick: () => go({ page: data.page - 1 }) }, "上一页"),
          h("span", null, `第 ${data.page} / ${pages} 页`),
          h("button", { type: "button", class: "btn btn-small", disabled: data.page >= pages, onclick: () => go({ page: data.page + 1 }) }, "下一页")) : null);
      replace(idleBox, dataTable([
        { title: "单位", key: "name" }, { title: "区县", key: "division_name" }, { title: "乡镇/街道", key: "street" },
        { title: "最近申报", render: (u) => u.last_declared_at || "从未申报" },
        { title: "未申报天数", render: (u) => (u.idle_days == null ? "—" : String(u.idle_days)), class: "num" },
        { title: "参保人数", render: (u) => shown("insured", u.insured), class: "num" },
      ], data.idle_units, { caption: "未申报单位", empty: "没有超过期限未申报的单位" }),
      data.idle_total > data.idle_units.length ? h("p", { class: "muted" }, `共 ${data.idle_total} 个，仅列出前 ${data.idle_units.length} 个（导出Excel可见全部）`) : null);
    } catch (err) {
      replace(totals, errorBlock(err, load));
      replace(table, "");
    }
    try {
      const daily = await api("GET", "/api/admin/dashboard/daily", { query: { year: state.year || undefined, division: state.division || undefined } });
      replace(chartBox, dailyChart(daily.days, daily.year));
    } catch (err) {
      replace(chartBox, errorBlock(err));
    }
  };
  load();
}
