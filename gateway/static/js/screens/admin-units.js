// 管理端 · 单位管理: the registered units with their 区县 and 乡镇/街道, filtered
// by them; 新增单位 (the credit code checked as it is typed, GB 32100; without
// a password one is generated and shown once); 批量导入 from the template with
// per-row failures, a failures file and the initial passwords downloadable
// once; per unit 修改 (name, division, street, contact), 停用/启用 and 变更记录.
import { api, download, newKey, upload } from "../api.js";
import { DIVISIONS } from "../codes.js";
import {
  clearErrors, confirmDialog, dataTable, errorBlock, field, fmtDateTime, formValues, h, loadingBlock, modal, pager,
  replace, select, setFieldErrors, showFormError, toast,
} from "../dom.js";
import { checkCreditCode } from "../validate.js";

const TWELVE = () => DIVISIONS.filter(([code]) => code !== "000000");

export function render(root) {
  let page = 1;
  let size = 20;
  let filters = {};
  const division = select(DIVISIONS, { placeholder: "全部" });
  const street = h("input", { type: "text", maxlength: "50" });
  const text = h("input", { type: "text", maxlength: "100", placeholder: "单位名称、信用代码或账号" });
  const state = h("select", null, h("option", { value: "" }, "全部"), h("option", { value: "false" }, "正常"), h("option", { value: "true" }, "已停用"));
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "查询条件" },
    field({ label: "所属区县", name: "division", input: division }),
    field({ label: "乡镇/街道", name: "street", input: street }),
    field({ label: "关键字", name: "q", input: text }),
    field({ label: "状态", name: "disabled", input: state }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "搜索"), h("button", { type: "reset", class: "btn" }, "重置")));
  const list = h("div", null, loadingBlock());
  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/admin/units", { query: { ...filters, page, size } });
      replace(list,
        dataTable([
          { title: "序号", render: (_, i) => String((page - 1) * size + i + 1) },
          { title: "单位名称", key: "name" },
          { title: "所属区县", key: "division_name", class: "nowrap" },
          { title: "乡镇/街道", key: "street" },
          { title: "平台账号", key: "account" },
          { title: "统一社会信用代码", key: "credit_code", class: "mono" },
          { title: "联系人", render: (u) => [u.contact, u.phone].filter(Boolean).join(" ") },
          { title: "状态", render: (u) => h("span", { class: `status ${u.disabled ? "status-failed" : "status-done"}` }, u.disabled ? "已停用" : u.locked ? "已锁定" : "正常") },
          { title: "注册时间", render: (u) => fmtDateTime(u.created_at), class: "nowrap" },
          {
            title: "操作", class: "nowrap", render: (u) => h("span", { class: "row" },
              h("button", { type: "button", class: "btn btn-small", onclick: () => openEdit(u, load) }, "修改"),
              h("button", { type: "button", class: "btn btn-small", onclick: () => toggle(u, load) }, u.disabled ? "启用" : "停用"),
              h("button", { type: "button", class: "btn btn-small", onclick: () => openHistory(u) }, "变更记录")),
          },
        ], data.items, { empty: Object.keys(filters).length ? "没有符合条件的单位" : "尚未登记单位", caption: "单位列表" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    filters = Object.fromEntries(Object.entries(formValues(form)).filter(([, v]) => v !== ""));
    page = 1;
    load();
  });
  form.addEventListener("reset", () => setTimeout(() => { filters = {}; page = 1; load(); }));
  root.querySelector(".screen-head").append(h("span", { class: "row" },
    h("button", { type: "button", class: "btn", onclick: () => openImport(load) }, "批量导入"),
    h("button", { type: "button", class: "btn btn-primary", onclick: () => openNew(load) }, "新增单位")));
  root.append(h("div", { class: "card" }, form), h("div", { class: "card" }, list));
  load();
}

async function toggle(unit, reload) {
  const disabling = !unit.disabled;
  const ok = await confirmDialog({
    title: disabling ? "停用单位" : "启用单位", danger: disabling, okText: disabling ? "停用" : "启用",
    message: disabling ? `停用后“${unit.name}”将立即退出登录且无法登录，其数据保留。确定停用吗？` : `确定启用“${unit.name}”吗？`,
  });
  if (!ok) return;
  try {
    await api("PATCH", `/api/admin/units/${unit.id}`, { body: { disabled: disabling } });
    toast(disabling ? `已停用：${unit.name}` : `已启用：${unit.name}`, "success");
    reload();
  } catch (err) {
    toast(err.message || "操作失败", "error");
  }
}

async function openHistory(unit) {
  const box = h("div", null, loadingBlock());
  modal({ title: `变更记录 · ${unit.name}`, content: box, wide: true, actions: [{ text: "关闭" }] });
  const ACTIONS = { created: "新增", imported: "批量导入", updated: "修改", migrated: "系统迁移" };
  const value = (v) => (v === true ? "是" : v === false ? "否" : v == null || v === "" ? "（空）" : String(v));
  try {
    const data = await api("GET", `/api/admin/units/${unit.id}/history`);
    replace(box, dataTable([
      { title: "时间", render: (r) => fmtDateTime(r.at), class: "nowrap" },
      { title: "操作人", render: (r) => r.actor || "系统" },
      { title: "操作", render: (r) => ACTIONS[r.action] || r.action },
      { title: "内容", render: (r) => r.changes.map((c) => `${c.label}：${value(c.before)} → ${value(c.after)}`).join("；") },
    ], data.items, { caption: "变更记录", empty: "暂无变更记录" }));
  } catch (err) {
    replace(box, errorBlock(err));
  }
}

function unitFields(unit) {
  const name = h("input", { type: "text", maxlength: "100", value: unit?.name || "", placeholder: "如：泉州市鲤城区海滨街道新华社区居民委员会" });
  const division = select(TWELVE(), { placeholder: "请选择", value: unit && unit.division !== "000000" ? unit.division : "" });
  const street = h("input", { type: "text", maxlength: "50", value: unit?.street || "", placeholder: "如：海滨街道" });
  const contact = h("input", { type: "text", maxlength: "50", value: unit?.contact || "" });
  const phone = h("input", { type: "text", maxlength: "30", value: unit?.phone || "" });
  return { name, division, street, contact, phone };
}

function openEdit(unit, reload) {
  const f = unitFields(unit);
  const form = h("form", { novalidate: true, "aria-label": "修改单位" },
    field({ label: "单位名称", name: "name", input: f.name, required: true }),
    field({ label: "所属区县", name: "division", input: f.division, required: true }),
    field({ label: "乡镇/街道", name: "street", input: f.street, required: true }),
    field({ label: "联系人", name: "contact", input: f.contact }),
    field({ label: "联系电话", name: "phone", input: f.phone }),
    h("button", { type: "submit", hidden: true, tabindex: "-1" }, "保存"));
  const save = async (close) => {
    clearErrors(form);
    const v = formValues(form);
    const errors = {};
    if (!v.name) errors.name = ["请输入单位名称"];
    if (!v.division) errors.division = ["请选择所属区县"];
    if (!v.street) errors.street = ["请填写乡镇/街道"];
    if (Object.keys(errors).length) return setFieldErrors(form, errors);
    const body = {};
    for (const k of ["name", "division", "street", "contact", "phone"]) if ((v[k] || "") !== (unit[k] || "")) body[k] = v[k] || null;
    try {
      await api("PATCH", `/api/admin/units/${unit.id}`, { body });
      close();
      toast(`已保存：${v.name}`, "success");
      reload();
    } catch (err) {
      showFormError(form, err);
    }
    return null;
  };
  const m = modal({ title: "修改单位", content: form, actions: [{ text: "取消" }, { text: "保存", primary: true, onClick: (close) => save(close) }] });
  form.addEventListener("submit", (e) => { e.preventDefault(); save(m.close); });
}

function showPassword(unit, password) {
  modal({
    title: "初始密码（仅显示一次）",
    content: h("div", null,
      h("p", null, `单位“${unit.name}”的平台账号：`, h("strong", { class: "mono" }, unit.account)),
      h("p", null, "初始密码：", h("strong", { class: "mono", "data-testid": "temporary-password" }, password)),
      h("p", { class: "muted" }, "请将账号和初始密码告知单位；单位首次登录时须修改密码。关闭后将无法再次查看。")),
    actions: [{ text: "我已记下", primary: true }],
  });
}

function openNew(reload) {
  const f = unitFields(null);
  const account = h("input", { type: "text", maxlength: "50", autocomplete: "off", placeholder: "登录用的平台账号" });
  const code = h("input", { type: "text", maxlength: "22", autocomplete: "off", class: "mono", placeholder: "18位统一社会信用代码" });
  const password = h("input", { type: "password", maxlength: "128", autocomplete: "new-password", placeholder: "留空则由平台生成" });
  const codeState = h("div", { class: "field-ok", "aria-live": "polite" });
  const key = newKey();
  const form = h("form", { novalidate: true, "aria-label": "新增单位" },
    field({ label: "单位名称", name: "name", input: f.name, required: true }),
    field({ label: "平台账号", name: "account", input: account, required: true }),
    field({ label: "统一社会信用代码", name: "credit_code", input: code, required: true }),
    codeState,
    field({ label: "所属区县", name: "division", input: f.division, required: true }),
    field({ label: "乡镇/街道", name: "street", input: f.street, required: true }),
    field({ label: "联系人", name: "contact", input: f.contact }),
    field({ label: "联系电话", name: "phone", input: f.phone }),
    field({ label: "初始密码", name: "password", input: password, hint: "留空则由平台生成（仅显示一次，单位首次登录须修改）" }),
    h("button", { type: "submit", hidden: true, tabindex: "-1" }, "保存"));
  const slot = () => form.querySelector('.field-error[data-error-for="credit_code"]');
  code.addEventListener("input", () => {
    const upper = code.value.toUpperCase();
    if (upper !== code.value) {
      const at = code.selectionStart;
      code.value = upper;
      code.setSelectionRange(at, at);
    }
    const r = checkCreditCode(code.value);
    const typed = r.value.length;
    slot().textContent = "";
    codeState.textContent = "";
    code.removeAttribute("aria-invalid");
    if (!typed) return;
    if (r.ok) codeState.textContent = "✓ 统一社会信用代码校验通过";
    else if (typed < 18 && !/不允许/.test(r.reason)) codeState.textContent = `已输入${typed}位，共18位`;
    else {
      slot().textContent = r.reason;
      code.setAttribute("aria-invalid", "true");
    }
  });
  const save = async (close) => {
    clearErrors(form);
    codeState.textContent = "";
    const v = formValues(form);
    const errors = {};
    if (!v.name) errors.name = ["请输入单位名称"];
    if (!v.account) errors.account = ["请输入平台账号"];
    const c = checkCreditCode(v.credit_code);
    if (!c.ok) errors.credit_code = [c.reason];
    if (!v.division) errors.division = ["请选择所属区县"];
    if (!v.street) errors.street = ["请填写乡镇/街道"];
    if (password.value && password.value.length < 8) errors.password = ["密码至少8位"];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    const btn = m.footer.querySelector(".btn-primary");
    btn.disabled = true;
    try {
      const body = { name: v.name, account: v.account, credit_code: c.value, division: v.division, street: v.street };
      if (v.contact) body.contact = v.contact;
      if (v.phone) body.phone = v.phone;
      if (password.value) body.password = password.value;
      const unit = await api("POST", "/api/admin/units", { body, idempotencyKey: key });
      close();
      toast(`已新增单位：${unit.name}`, "success");
      if (unit.temporary_password) showPassword(unit, unit.temporary_password);
      reload();
    } catch (err) {
      showFormError(form, err);
    } finally {
      btn.disabled = false;
    }
  };
  const m = modal({
    title: "新增单位", content: form,
    actions: [{ text: "取消" }, { text: "保存", primary: true, onClick: (close) => save(close) }],
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); save(m.close); });
}

function openImport(reload) {
  const file = h("input", { type: "file", accept: ".xlsx" });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, "aria-label": "批量导入单位" },
    h("p", null, "请先下载模板，按列填写单位名称、统一社会信用代码、所属区县、乡镇/街道、平台账号、联系人、联系电话。",
      h("button", { type: "button", class: "btn-link", onclick: () => download("/api/admin/units/template", null, "单位批量导入模板.xlsx") }, "下载模板")),
    field({ label: "选择文件", name: "file", input: file, required: true }),
    result);
  const run = async () => {
    clearErrors(form);
    if (!file.files.length) return setFieldErrors(form, { file: ["请选择要上传的文件"] });
    replace(result, loadingBlock("正在导入…"));
    try {
      const data = await upload("/api/admin/units/import", null, file.files[0]);
      const parts = [h("div", { class: `alert ${data.failed ? "alert-warn" : "alert-success"}`, role: "status" },
        `共${data.total}行：成功${data.succeeded}个，失败${data.failed}个。`)];
      if (data.credentials_url) {
        const btn = h("button", {
          type: "button", class: "btn btn-primary",
          onclick: async () => {
            try {
              await download(data.credentials_url, null, "单位初始密码.xlsx");
              btn.disabled = true;
              btn.textContent = "初始密码已下载（仅能下载一次）";
            } catch (err) {
              toast(err.message || "下载失败", "error");
            }
          },
        }, "下载初始密码（仅一次）");
        parts.push(h("p", null, btn));
      }
      if (data.failed) {
        parts.push(dataTable([
          { title: "行号", key: "row" }, { title: "平台账号", key: "account" }, { title: "失败原因", key: "reason" },
        ], data.failures, { caption: "导入失败的行" }),
        h("p", null, h("button", { type: "button", class: "btn", onclick: () => download(data.failures_url, null, "单位导入失败原因.xlsx") }, "下载失败原因文件")));
      }
      replace(result, ...parts);
      if (data.succeeded) reload();
    } catch (err) {
      replace(result);
      showFormError(form, err);
    }
    return null;
  };
  modal({ title: "批量导入单位", content: form, wide: true, actions: [{ text: "关闭" }, { text: "导入", primary: true, onClick: () => run() }] });
}
