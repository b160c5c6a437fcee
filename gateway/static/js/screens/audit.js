// 审计管理 → 审计日志 (auditor only): the audit trail, newest first, searched
// by 操作日期, 账号, 单位ID, 证件号码, 操作 and 结果, with 导出 to Excel.
// Searching and exporting are themselves on record.
import { api, download } from "../api.js";
import { clearErrors, dataTable, errorBlock, field, fmtDateTime, formValues, h, loadingBlock, pager, replace, select, setFieldErrors, toast } from "../dom.js";
import { normalizeCertNo } from "../validate.js";

const FILTERS = ["from", "to", "account", "unit_id", "cert_no", "action", "outcome"];

// The actions the platform records (gateway/audit.py), with their Chinese names.
export const ACTIONS = {
  "auth.login": "登录",
  "auth.logout": "退出登录",
  "auth.password_change": "修改密码",
  "roster.list": "查询人员列表",
  "roster.person": "查看人员详情",
  "roster.lookup": "查询参保状态",
  "roster.export": "导出人员名单",
  "records.list": "查询申报记录",
  "records.detail": "查看申报记录详情",
  "batch.detail": "查看批量结果",
  "batch.failures_file": "下载失败清单",
  "batch.submit": "提交批量文件",
  "events.feed": "读取事件",
  "declaration.enrolment": "城乡居民参保",
  "declaration.suspension": "城乡居民暂停参保",
  "declaration.change": "城乡居民变更",
  "unit.create": "新增单位",
  "unit.change": "修改单位",
  "unit.password_reset": "重置单位密码",
  "unit.unlock": "解锁单位账号",
  "account.create": "新增管理账号",
  "account.password_reset": "重置账号密码",
  "account.mfa_reset": "重置双因素认证",
  "account.unlock": "解锁账号",
  "notice.publish": "发布通知",
  "notice.edit": "修改通知",
  "notice.withdraw": "撤回通知",
  "audit.search": "查询审计日志",
  "audit.export": "导出审计日志",
};

export const OUTCOMES = {
  success: "成功", failure: "失败", denied: "无权限", not_found: "不存在",
  locked: "已锁定", rate_limited: "过于频繁", error: "系统错误", withheld: "未放行（审计不可用）",
};

const ROLES = { unit: "单位", downstream: "下游系统", admin: "系统管理员", secadmin: "安全管理员", auditor: "审计管理员" };

function objectText(obj) {
  if (obj == null) return "";
  if (typeof obj !== "object") return String(obj);
  return Object.entries(obj).filter(([k]) => k !== "status").map(([k, v]) => `${k}=${v}`).join("，");
}

const COLUMNS = [
  { title: "时间", render: (r) => fmtDateTime(r.at) },
  { title: "账号", key: "account" },
  { title: "角色", render: (r) => ROLES[r.role] || r.role },
  { title: "单位ID", key: "unit_id" },
  { title: "客户端地址", key: "address", class: "mono" },
  { title: "操作", render: (r) => ACTIONS[r.action] || r.action },
  { title: "对象", render: (r) => objectText(r.object), class: "mono" },
  { title: "结果", render: (r) => OUTCOMES[r.outcome] || r.outcome },
  { title: "请求号", key: "request_id", class: "mono" },
];

export function render(root, ctx) {
  let page = 1;
  let size = 20;
  let filters = Object.fromEntries(FILTERS.filter((k) => ctx.query[k]).map((k) => [k, ctx.query[k]]));
  const input = (name, props = {}) => h("input", { type: "text", value: filters[name] || "", ...props });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "查询条件" },
    field({ label: "操作日期（起）", name: "from", input: input("from", { type: "date" }) }),
    field({ label: "操作日期（止）", name: "to", input: input("to", { type: "date" }) }),
    field({ label: "账号", name: "account", input: input("account", { maxlength: "64" }) }),
    field({ label: "单位ID", name: "unit_id", input: input("unit_id", { inputmode: "numeric", maxlength: "10" }) }),
    field({ label: "人员证件号码", name: "cert_no", input: input("cert_no", { maxlength: "40", class: "mono" }) }),
    field({ label: "操作", name: "action", input: select(Object.entries(ACTIONS), { placeholder: "全部", value: filters.action || "" }) }),
    field({ label: "结果", name: "outcome", input: select(Object.entries(OUTCOMES), { placeholder: "全部", value: filters.outcome || "" }) }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "搜索"),
      h("button", { type: "reset", class: "btn" }, "重置")));
  const exportBtn = h("button", { type: "button", class: "btn" }, "导出Excel");
  const list = h("div", null, loadingBlock());

  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/audit", { query: { ...filters, page, size } });
      replace(list,
        dataTable(COLUMNS, data.items, { empty: "没有符合条件的审计记录", caption: "审计日志" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    if (v.from && v.to && v.from > v.to) {
      setFieldErrors(form, { to: ["结束日期不能早于开始日期"] });
      return;
    }
    if (v.unit_id && !/^\d+$/.test(v.unit_id)) {
      setFieldErrors(form, { unit_id: ["单位ID应为数字"] });
      return;
    }
    if (v.cert_no) v.cert_no = normalizeCertNo(v.cert_no);
    filters = Object.fromEntries(Object.entries(v).filter(([, x]) => x));
    page = 1;
    load();
  });
  form.addEventListener("reset", () => {
    setTimeout(() => {
      clearErrors(form);
      filters = {};
      page = 1;
      load();
    });
  });
  exportBtn.addEventListener("click", async () => {
    exportBtn.disabled = true;
    exportBtn.textContent = "正在生成…";
    try {
      await download("/api/audit/export", filters, "审计日志.xlsx");
    } catch (err) {
      toast(err.message || "导出失败，请稍后重试", "error");
    } finally {
      exportBtn.disabled = false;
      exportBtn.textContent = "导出Excel";
    }
  });
  root.querySelector(".screen-head").append(exportBtn);
  root.append(h("div", { class: "card" }, form, list));
  load();
}
