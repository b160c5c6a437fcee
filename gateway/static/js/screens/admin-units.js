// 管理端 · 单位管理: the registered units, and 新增单位 with the credit code
// checked as it is typed (GB 32100).
import { api, newKey } from "../api.js";
import {
  clearErrors, dataTable, errorBlock, field, fmtDateTime, formValues, h, loadingBlock, modal, pager, replace,
  setFieldErrors, showFormError, toast,
} from "../dom.js";
import { checkCreditCode } from "../validate.js";

export function render(root) {
  let page = 1;
  let size = 20;
  const list = h("div", null, loadingBlock());
  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/admin/units", { query: { page, size } });
      replace(list,
        dataTable([
          { title: "序号", render: (_, i) => String((page - 1) * size + i + 1) },
          { title: "单位名称", key: "name" },
          { title: "平台账号", key: "account" },
          { title: "统一社会信用代码", key: "credit_code", class: "mono" },
          { title: "注册时间", render: (u) => fmtDateTime(u.created_at), class: "nowrap" },
        ], data.items, { empty: "尚未登记单位", caption: "单位列表" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  root.querySelector(".screen-head").append(h("button", { type: "button", class: "btn btn-primary", onclick: () => openNew(load) }, "新增单位"));
  root.append(h("div", { class: "card" }, list));
  load();
}

function openNew(reload) {
  const name = h("input", { type: "text", maxlength: "100", placeholder: "如：泉州市鲤城区海滨街道新华社区居民委员会" });
  const account = h("input", { type: "text", maxlength: "50", autocomplete: "off", placeholder: "登录用的平台账号" });
  const code = h("input", { type: "text", maxlength: "22", autocomplete: "off", class: "mono", placeholder: "18位统一社会信用代码" });
  const password = h("input", { type: "password", maxlength: "128", autocomplete: "new-password", placeholder: "至少8位" });
  const codeState = h("div", { class: "field-ok", "aria-live": "polite" });
  const key = newKey();
  const form = h("form", { novalidate: true, "aria-label": "新增单位" },
    field({ label: "单位名称", name: "name", input: name, required: true }),
    field({ label: "平台账号", name: "account", input: account, required: true }),
    field({ label: "统一社会信用代码", name: "credit_code", input: code, required: true }),
    codeState,
    field({ label: "初始密码", name: "password", input: password, required: true, hint: "请将账号和初始密码告知单位，并提醒其登录后修改密码" }),
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
    if (!password.value) errors.password = ["请输入初始密码"];
    else if (password.value.length < 8) errors.password = ["密码至少8位"];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    const btn = m.footer.querySelector(".btn-primary");
    btn.disabled = true;
    try {
      const unit = await api("POST", "/api/admin/units", {
        body: { name: v.name, account: v.account, credit_code: c.value, password: password.value }, idempotencyKey: key,
      });
      close();
      toast(`已新增单位：${unit.name}`, "success");
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
