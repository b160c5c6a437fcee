// How persons and declaration records are shown: field labels, coded values
// as their labels, the record columns, the record detail popup and the
// person popup. Lists show 证件号码 and 联系电话 masked (as the API gives
// them); a person opens by the opaque `person_id` of a list line, with full
// values (GET /api/residents/p/{person_id}).
import { api } from "./api.js";
import {
  ACTIONS, BUSINESS_TYPES, CATEGORIES, CERT_TYPES, GENDERS, NATIONS, STATUSES, SUSPEND_REASONS, label,
} from "./codes.js";
import { dataTable, errorBlock, fmtDate, fmtDateTime, fmtDay, h, loadingBlock, modal, replace } from "./dom.js";

export const FIELD_LABELS = {
  record_id: "记录编号",
  business_type: "业务类型",
  action: "办理类型",
  cert_type: "证件类型",
  cert_no: "证件号码",
  name: "姓名",
  gender: "性别",
  birth_date: "出生日期",
  nation: "民族",
  category: "人员类别",
  phone: "联系电话",
  hukou_address: "户籍地址",
  address: "居住地址",
  remark: "备注",
  reason: "暂停原因",
  suspension_reason: "暂停原因",
  status: "参保状态",
  since: "状态起始日期",
  declared_at: "申报时间",
  batch_no: "批次号",
  unit_name: "申报单位",
  from_unit: "转出单位",
  to_unit: "转入单位",
  declared_by: "经办账号",
  account: "经办账号",
};

const CODED = {
  cert_type: CERT_TYPES,
  gender: GENDERS,
  nation: NATIONS,
  category: CATEGORIES,
  reason: SUSPEND_REASONS,
  suspension_reason: SUSPEND_REASONS,
  status: STATUSES,
  business_type: BUSINESS_TYPES,
};

// A value as the user reads it: codes as "label", dates and times formatted.
export function show(key, value) {
  if (value == null || value === "") return "";
  if (key === "action") return ACTIONS[value] || (value === "suspend" ? "暂停参保" : value === "change" ? "变更" : String(value));
  if (CODED[key]) return label(CODED[key], value);
  if (key.endsWith("_at")) return fmtDateTime(value);
  if (key === "birth_date") return fmtDate(value);
  if (key === "since") return fmtDay(value);
  if (typeof value === "object") {
    if (value.name) return String(value.name);
    return JSON.stringify(value);
  }
  if (typeof value === "boolean") return value ? "是" : "否";
  return String(value);
}

// What happened, in one phrase: 新参保 / 调入 / 恢复参保 / 暂停参保 / 变更.
export function recordKind(r) {
  if (r.business_type === "enrolment") return ACTIONS[r.action] || "参保";
  if (r.business_type === "suspension") return "暂停参保";
  if (r.business_type === "change") return "信息变更";
  return r.business_type || "";
}

export function businessLabel(type) {
  return label(BUSINESS_TYPES, type);
}

export const PERSON_ORDER = ["cert_type", "cert_no", "name", "gender", "birth_date", "nation", "category", "phone", "hukou_address", "address", "remark"];
const SKIP = new Set(["before", "after", "changes", "person", "data", "history", "unit", "failures", "labels", "name_matches", "person_id"]);

// A <dl> of `obj`'s fields: the known ones in order, then any others.
export function detailList(obj, order = []) {
  const keys = [...order.filter((k) => k in obj), ...Object.keys(obj).filter((k) => !order.includes(k))]
    .filter((k) => !SKIP.has(k) && !k.endsWith("_label") && (typeof obj[k] !== "object" || obj[k] === null || obj[k].name));
  const dl = h("dl", { class: "kv" });
  for (const k of keys) {
    dl.append(h("dt", null, FIELD_LABELS[k] || k), h("dd", { dataset: { key: k } }, show(k, obj[k]) || "—"));
  }
  return dl;
}

export function changeTable(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
  return h("div", { class: "diff", role: "table", "aria-label": "变更前后" },
    h("div", { role: "columnheader", class: "muted" }, "项目"),
    h("div", { role: "columnheader", class: "muted" }, "变更前"),
    h("div", { role: "columnheader", class: "muted" }, "变更后"),
    keys.map((k) => {
      const b = show(k, before?.[k]);
      const a = show(k, after?.[k]);
      return [h("div", { role: "cell" }, FIELD_LABELS[k] || k), h("div", { role: "cell" }, b || "—"),
        h("div", { role: "cell", class: a !== b ? "changed" : "" }, a || "—")];
    }));
}

export const RECORD_ORDER = ["record_id", "business_type", "action", "declared_at", "batch_no", "from_unit", "to_unit", ...PERSON_ORDER, "reason"];

export function recordDetail(record) {
  const top = { ...record };
  const data = record.data && typeof record.data === "object" ? record.data : {};
  const merged = { ...data, ...top };
  if (merged.action && merged.business_type !== "enrolment") delete merged.action;
  const parts = [detailList(merged, RECORD_ORDER)];
  if (record.before || record.after) {
    parts.push(h("h3", { class: "sub-title" }, "变更内容"), changeTable(record.before, record.after));
  }
  return parts;
}

export function openRecord(recordId) {
  const body = h("div", null, loadingBlock());
  modal({ title: "城乡居民参保记录详情", content: body, wide: true, actions: [{ text: "关闭", primary: true }] });
  api("GET", `/api/declarations/${encodeURIComponent(recordId)}`)
    .then((r) => replace(body, recordDetail(r)))
    .catch((err) => replace(body, errorBlock(err)));
}

// A person's name in a list: a link that opens the person (when the line
// names one), else the name as text.
export function personLink(item) {
  if (!item.person_id) return item.name || "";
  return h("button", {
    type: "button", class: "btn-link", onclick: () => openPerson(item.person_id),
    "aria-label": `查看${item.name || ""}的个人信息`,
  }, item.name || "—");
}

export function recordColumns({ withDetail = true } = {}) {
  const cols = [
    { title: "申报时间", render: (r) => fmtDateTime(r.declared_at), class: "nowrap" },
    { title: "姓名", render: (r) => personLink(r) },
    { title: "证件类型", render: (r) => label(CERT_TYPES, r.cert_type) },
    { title: "证件号码", key: "cert_no", class: "mono" },
    { title: "业务类型", render: (r) => businessLabel(r.business_type) },
    { title: "办理类型", render: (r) => recordKind(r) },
    { title: "批次号", render: (r) => r.batch_no || "—" },
  ];
  if (withDetail) {
    cols.push({
      title: "操作",
      render: (r) => h("button", { type: "button", class: "btn-link", onclick: () => openRecord(r.record_id), "aria-label": `查看${r.name || ""}的记录详情` }, "详情"),
    });
  }
  return cols;
}

export const HISTORY_KINDS = {
  new_enrolment: "新参保",
  transfer_in: "调入",
  resume: "恢复参保",
  suspension: "暂停参保",
  change: "信息变更",
  transfer_out: "调出（在其他单位参保）",
};

// One person of the unit, opened by the `person_id` of a list line: full
// values and the history in this unit; then 变更信息, 暂停参保 or 恢复参保
// open with the id (the person's number never goes into the address).
// A person who is no longer in this unit is "not found".
export function openPerson(personId) {
  const body = h("div", null, loadingBlock());
  const m = modal({ title: "个人信息", content: body, wide: true, actions: [{ text: "关闭", primary: true }] });
  api("GET", `/api/residents/p/${encodeURIComponent(personId)}`)
    .then((person) => {
      const q = `person_id=${encodeURIComponent(personId)}`;
      const actions = [
        ["变更信息", "change"],
        ...(person.status === "active" ? [["暂停参保", "suspension"]] : []),
        ...(person.status === "suspended" ? [["恢复参保", "enrolment"]] : []),
      ];
      m.footer.prepend(...actions.map(([text, screen]) => h("button", {
        type: "button", class: "btn", onclick: () => { m.close(); location.hash = `#/declare/${screen}?${q}`; },
      }, text)));
      replace(body,
        detailList(person, [...PERSON_ORDER, "status", "since", "suspension_reason"]),
        h("h3", { class: "sub-title" }, "参保记录"),
        historyTable(person.history || []));
    })
    .catch((err) => replace(body, errorBlock(err)));
  return m;
}

// A person's history in this unit (GET /api/residents/p/{person_id}).
export function historyTable(history) {
  return dataTable([
    { title: "时间", render: (x) => fmtDateTime(x.occurred_at), class: "nowrap" },
    { title: "办理类型", render: (x) => HISTORY_KINDS[x.kind] || x.kind },
    {
      title: "说明",
      render: (x) => {
        if (x.kind === "suspension") return [label(SUSPEND_REASONS, x.reason), x.remark].filter(Boolean).join("；");
        if (x.kind === "change" && x.after) {
          return Object.keys(x.after).map((k) => `${FIELD_LABELS[k] || k}：${show(k, x.before?.[k]) || "空"} → ${show(k, x.after[k]) || "空"}`).join("；");
        }
        return x.remark || "";
      },
    },
    { title: "批次号", render: (x) => x.batch_no || "—" },
    { title: "操作", render: (x) => (x.record_id && x.kind !== "transfer_out" ? h("button", { type: "button", class: "btn-link", onclick: () => openRecord(x.record_id) }, "详情") : "") },
  ], history, { empty: "暂无记录", caption: "参保记录" });
}
