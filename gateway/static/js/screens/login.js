// 登录: account and password; says clearly when the password is wrong and
// when the account is locked (with the unlock time).
import { api, session } from "../api.js";
import { clearErrors, field, fmtDateTime, formValues, h, setFieldErrors, showFormError } from "../dom.js";
import { textSizeButton } from "../text-size.js";

export function render(root, ctx) {
  const account = h("input", { type: "text", autocomplete: "username", maxlength: "50", placeholder: "请输入平台账号", autofocus: true });
  const password = h("input", { type: "password", autocomplete: "current-password", maxlength: "128", placeholder: "请输入密码" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "登 录");
  const form = h("form", { class: "login-form", novalidate: true, "aria-label": "登录" },
    field({ label: "账号", name: "account", input: account, required: true }),
    field({ label: "密码", name: "password", input: password, required: true }),
    submit);

  // Why the user is here again (session expired or revoked); kept until the
  // next login so that reloading this page still says it.
  const notice = sessionStorage.getItem("edt.notice");

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    v.password = password.value; // passwords are not trimmed
    const missing = {};
    if (!v.account) missing.account = ["请输入账号"];
    if (!v.password) missing.password = ["请输入密码"];
    if (Object.keys(missing).length) {
      setFieldErrors(form, missing);
      return;
    }
    submit.disabled = true;
    submit.textContent = "正在登录…";
    try {
      const result = await api("POST", "/api/auth/login", { body: { account: v.account, password: v.password } });
      session.set({
        token: result.token, expires_at: result.expires_at, role: result.role,
        account: result.account || v.account, unit: result.unit || null,
      });
      sessionStorage.removeItem("edt.notice");
      const back = sessionStorage.getItem("edt.return");
      sessionStorage.removeItem("edt.return");
      if (back && back !== "#/login") location.hash = back;
      else ctx.navigate(result.role === "admin" ? "/admin/units" : result.role === "unit" ? "/home" : "/password");
    } catch (err) {
      if (err.status === 423) {
        const until = err.body.locked_until ? `（解锁时间：${fmtDateTime(err.body.locked_until)}）` : "";
        showFormError(form, { message: err.message.includes("后再试") ? err.message : `${err.message}${until}` });
        form.querySelector(".form-alert").classList.add("alert-locked");
      } else if (err.status === 401) {
        showFormError(form, { message: err.message || "账号或密码错误" });
        password.select();
        password.focus();
      } else {
        showFormError(form, err);
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "登 录";
    }
  });

  root.classList.add("login-page");
  root.append(
    h("div", { class: "login-banner" },
      h("div", { class: "brand brand-large" }, h("span", { class: "brand-logo", "aria-hidden": "true" }, "E"),
        h("span", { class: "brand-name" }, "泉州居民E点通")),
      h("p", { class: "login-slogan" }, "城乡居民基本医疗保险 · 社区单位网上申报平台"),
      h("ul", { class: "login-points" },
        h("li", null, "单人参保、调入、暂停参保、信息变更"),
        h("li", null, "Excel 批量申报，失败数据一键下载"),
        h("li", null, "参保人员名单、申报记录随时查询"))),
    h("div", { class: "login-card" },
      h("h1", { id: "screen-title" }, "单位账号登录"),
      notice ? h("div", { class: "alert alert-info", role: "status" }, notice) : null,
      form,
      h("p", { class: "login-help" }, "忘记密码或账号被锁定，请联系医保经办机构平台管理员。"),
      h("div", { class: "login-tools" }, textSizeButton("btn btn-small"))));
  account.focus();
}
