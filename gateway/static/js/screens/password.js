// 修改密码: the old password, the new one twice. Other sessions of the account
// stop working; this one stays logged in. An account whose password is
// initial, temporary or expired comes here first and may go on once changed.
import { api, session } from "../api.js";
import { clearErrors, field, h, setFieldErrors, showFormError, showFormSuccess, toast } from "../dom.js";

export function render(root, ctx) {
  const forced = Boolean(session.get()?.must_change_password);
  const oldPw = h("input", { type: "password", autocomplete: "current-password", maxlength: "128" });
  const newPw = h("input", { type: "password", autocomplete: "new-password", maxlength: "128" });
  const again = h("input", { type: "password", autocomplete: "new-password", maxlength: "128" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "确认修改");
  const form = h("form", { class: "card narrow-form", novalidate: true, "aria-label": "修改密码" },
    field({ label: "原密码", name: "old_password", input: oldPw, required: true }),
    field({ label: "新密码", name: "new_password", input: newPw, required: true,
      hint: "至少8位，含大写字母、小写字母、数字、符号中的至少3类；不能包含账号，不能与最近5次用过的密码相同" }),
    field({ label: "确认新密码", name: "confirm", input: again, required: true }),
    h("div", { class: "actions" }, submit, h("button", { type: "reset", class: "btn" }, "重置")));
  form.addEventListener("reset", () => clearErrors(form));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const errors = {};
    if (!oldPw.value) errors.old_password = ["请输入原密码"];
    if (!newPw.value) errors.new_password = ["请输入新密码"];
    else if (newPw.value.length < 8) errors.new_password = ["密码至少8位"];
    else if (newPw.value === oldPw.value) errors.new_password = ["新密码不能与原密码相同"];
    if (newPw.value && again.value !== newPw.value) errors.confirm = ["两次输入的新密码不一致"];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    submit.disabled = true;
    try {
      await api("PUT", "/api/auth/password", { body: { old_password: oldPw.value, new_password: newPw.value } });
      form.reset();
      showFormSuccess(form, "密码修改成功。其他已登录的会话需使用新密码重新登录。");
      toast("密码修改成功", "success");
      if (forced) {
        session.set({ ...session.get(), must_change_password: false });
        if (ctx) ctx.navigate("/"); // on to the role's first screen
      }
    } catch (err) {
      showFormError(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  if (forced) {
    root.append(h("div", { class: "alert alert-info", role: "status" },
      "您的密码是初始密码、临时密码或已超过有效期，请先修改密码，之后才能使用其他功能。"));
  }
  root.append(form);
  oldPw.focus();
}
