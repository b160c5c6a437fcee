// 登录: account and password; says clearly when the password is wrong and
// when the account is locked (with the unlock time). When a second factor is
// due, a second step asks for the code of the authenticator app, or first
// enrols one: its QR code, its key as text, and the one-time recovery codes.
import { api, session } from "../api.js";
import { clear, clearErrors, field, fmtDateTime, formValues, h, setFieldErrors, showFormError } from "../dom.js";
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
      if (result.mfa_required || result.mfa_enrolment_required) {
        secondStep(v.account, result);
        return;
      }
      signedIn(result, v.account);
    } catch (err) {
      refused(form, err, password);
    } finally {
      submit.disabled = false;
      submit.textContent = "登 录";
    }
  });

  function signedIn(result, name) {
    session.set({
      token: result.token, expires_at: result.expires_at, role: result.role,
      account: result.account || name, unit: result.unit || null,
      must_change_password: Boolean(result.must_change_password),
    });
    sessionStorage.removeItem("edt.notice");
    const back = sessionStorage.getItem("edt.return");
    sessionStorage.removeItem("edt.return");
    if (result.must_change_password) ctx.navigate("/password");
    else if (back && back !== "#/login") location.hash = back;
    else ctx.navigate("/"); // the shell sends each role to its first screen
  }

  // The second factor: the code of the authenticator app (or a recovery
  // code); enrolment first when the account has none.
  async function secondStep(name, step) {
    const code = h("input", { type: "text", autocomplete: "one-time-code", maxlength: "32", placeholder: "6位动态口令或恢复码", spellcheck: "false" });
    const verify = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "验 证");
    const codeForm = h("form", { class: "login-form", novalidate: true, "aria-label": "动态口令验证" },
      field({ label: "动态口令", name: "code", input: code, required: true,
        hint: step.mfa_enrolment_required ? "用验证器扫描上方二维码后，输入其显示的6位口令" : "输入验证器中显示的6位口令；手机不在身边时可输入一个恢复码" }),
      verify,
      h("button", { type: "button", class: "btn btn-block btn-ghost", onclick: () => ctx.navigate("/login") }, "返回重新登录"));
    const enrolment = h("div", { class: "mfa-enrol" });
    clear(card).append(
      h("h1", { id: "screen-title" }, step.mfa_enrolment_required ? "绑定动态口令" : "动态口令验证"),
      h("p", { class: "login-help" }, step.mfa_enrolment_required
        ? "管理账号须使用“密码＋动态口令”两种方式登录。请先在手机上安装验证器（如 Microsoft Authenticator、Google 身份验证器），扫码绑定。"
        : `账号 ${name} 已通过密码验证，请输入动态口令。`),
      enrolment, codeForm);
    if (step.mfa_enrolment_required) {
      try {
        const e = await api("POST", "/api/auth/mfa/enrol", { body: { mfa_token: step.mfa_token } });
        enrolment.append(
          h("img", { class: "mfa-qr", src: e.qr_svg, alt: "动态口令绑定二维码", width: "200", height: "200" }),
          h("p", { class: "mfa-secret" }, "无法扫码时，在验证器中手动输入密钥：", h("code", { "data-key": "secret" }, e.secret)),
          h("div", { class: "alert alert-info mfa-recovery", role: "note" },
            h("p", null, h("strong", null, "恢复码（只显示这一次）："), "手机丢失时，每个恢复码可代替动态口令登录一次。请抄写或打印后妥善保管。"),
            h("ul", { class: "recovery-codes", "aria-label": "恢复码" }, e.recovery_codes.map((c) => h("li", null, h("code", null, c))))));
      } catch (err) {
        showFormError(codeForm, err);
      }
    }
    code.focus();
    codeForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(codeForm);
      const value = code.value.trim();
      if (!value) {
        setFieldErrors(codeForm, { code: ["请输入动态口令"] });
        return;
      }
      verify.disabled = true;
      try {
        signedIn(await api("POST", "/api/auth/mfa", { body: { mfa_token: step.mfa_token, code: value } }), name);
      } catch (err) {
        refused(codeForm, err, code);
      } finally {
        verify.disabled = false;
      }
    });
  }

  // the steps of the sign-in replace one another in `card`
  const card = h("div", { class: "login-step" },
    h("h1", { id: "screen-title" }, "单位账号登录"),
    notice ? h("div", { class: "alert alert-info", role: "status" }, notice) : null,
    form,
    h("p", { class: "login-help" }, "忘记密码或账号被锁定，请联系医保经办机构平台管理员。"));
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
    h("div", { class: "login-card" }, card,
      h("div", { class: "login-tools" }, textSizeButton("btn btn-small"))));
  account.focus();
}

function refused(form, err, input) {
  if (err.status === 423) {
    const until = err.body.locked_until ? `（解锁时间：${fmtDateTime(err.body.locked_until)}）` : "";
    showFormError(form, { message: err.message.includes("后再试") ? err.message : `${err.message}${until}` });
    form.querySelector(".form-alert").classList.add("alert-locked");
  } else if (err.status === 401) {
    showFormError(form, { message: err.message || "账号或密码错误" });
    input.select();
    input.focus();
  } else {
    showFormError(form, err);
  }
}
