// 安全管理 · 账号安全管理 (the security administrator): the administrative
// and downstream accounts with their lockout, second factor and password
// state; 新增账号, 重置密码, 重置动态口令 and 解锁. A generated password is
// shown once, in a dialog, for the holder, who must change it at first sign-in.
import { api } from "../api.js";
import {
  clearErrors, confirmDialog, dataTable, errorBlock, field, fmtDateTime, h, loadingBlock, modal, replace, select,
  setFieldErrors, showFormError, toast,
} from "../dom.js";

const ROLE_LABELS = { admin: "系统管理员", secadmin: "安全管理员", auditor: "审计管理员", downstream: "下游系统" };

export function render(root, ctx) {
  const list = h("div", null, loadingBlock());
  const me = ctx.session.account;

  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/admin/accounts");
      replace(list, dataTable([
        { title: "账号", render: (a) => h("span", { class: "nowrap" }, a.account) },
        { title: "角色", render: (a) => ROLE_LABELS[a.role] || a.role },
        { title: "状态", render: (a) => h("span", { class: `status status-${a.locked ? "failed" : "ok"}` }, a.locked ? "已锁定" : "正常") },
        {
          title: "动态口令",
          render: (a) => (a.role === "downstream" ? "—" : a.mfa_enrolled ? (a.recovery_codes_left ? `已绑定（恢复码剩余${a.recovery_codes_left}个）` : "已绑定（无恢复码）") : "未绑定"),
        },
        { title: "密码", render: (a) => (a.must_change_password ? h("span", { class: "status status-suspended" }, "待修改") : "正常") },
        { title: "创建时间", render: (a) => fmtDateTime(a.created_at), class: "nowrap" },
        {
          title: "操作", class: "nowrap",
          render: (a) => (a.account === me ? h("span", { class: "muted" }, "本人账号") : h("span", { class: "row" },
            h("button", { type: "button", class: "btn-link", onclick: () => resetPassword(a, load) }, "重置密码"),
            a.role !== "downstream" ? h("button", { type: "button", class: "btn-link", onclick: () => resetFactor(a, load) }, "重置动态口令") : null,
            a.locked ? h("button", { type: "button", class: "btn-link", onclick: () => unlock(a, load) }, "解锁") : null)),
        },
      ], data.items, { empty: "暂无账号", caption: "管理账号与下游系统账号" }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  root.querySelector(".screen-head").append(
    h("button", { type: "button", class: "btn btn-primary", onclick: () => create(load) }, "新增账号"));
  root.append(
    h("p", { class: "muted" }, "系统管理员、安全管理员、审计管理员三权分立，一个账号只能担任一种角色。管理账号登录须使用密码和动态口令。"),
    h("div", { class: "card" }, list));
  load();
}

// The password generated for `account`, shown once.
function showPassword(title, account, password) {
  modal({
    title,
    content: h("div", null,
      h("p", null, `账号 ${account} 的临时密码（只显示这一次，请当面或通过安全渠道告知账号持有人）：`),
      h("p", { class: "temporary-password" }, h("code", { "data-key": "temporary_password" }, password)),
      h("p", { class: "muted" }, "持有人首次登录后须先修改密码。")),
    actions: [{ text: "我已记下", primary: true }],
  });
}

function create(reload) {
  const account = h("input", { type: "text", maxlength: "50", autocomplete: "off" });
  const role = select(Object.entries(ROLE_LABELS), { placeholder: "请选择角色" });
  const password = h("input", { type: "password", maxlength: "128", autocomplete: "new-password" });
  const form = h("form", { class: "form-grid", novalidate: true },
    field({ label: "账号", name: "account", input: account, required: true, hint: "3至50位字母、数字、下划线、点或短横线" }),
    field({ label: "角色", name: "role", input: role, required: true }),
    field({ label: "初始密码", name: "password", input: password, hint: "留空则由系统生成；无论哪种，持有人首次登录须修改" }));
  const m = modal({
    title: "新增账号", content: form,
    actions: [{ text: "取消" }, { text: "保存", primary: true, onClick: () => form.requestSubmit() }],
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const errors = {};
    if (!account.value.trim()) errors.account = ["请输入账号"];
    if (!role.value) errors.role = ["请选择角色"];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    const body = { account: account.value.trim(), role: role.value };
    if (password.value) body.password = password.value;
    try {
      const made = await api("POST", "/api/admin/accounts", { body });
      m.close();
      toast("已新增账号", "success");
      reload();
      if (made.temporary_password) showPassword("账号已创建", made.account, made.temporary_password);
    } catch (err) {
      showFormError(form, err);
    }
  });
}

async function resetPassword(a, reload) {
  if (!await confirmDialog({ title: "重置密码", message: `确定重置账号 ${a.account} 的密码吗？其已登录的会话将立即失效。`, okText: "重置", danger: true })) return;
  try {
    const r = await api("POST", `/api/admin/accounts/${encodeURIComponent(a.account)}/password-reset`);
    reload();
    showPassword("密码已重置", r.account || a.account, r.temporary_password);
  } catch (err) {
    toast(err.message, "error");
  }
}

async function resetFactor(a, reload) {
  if (!await confirmDialog({ title: "重置动态口令", message: `确定重置账号 ${a.account} 的动态口令吗？其恢复码作废、会话失效，下次登录须重新绑定。`, okText: "重置", danger: true })) return;
  try {
    await api("POST", `/api/admin/accounts/${encodeURIComponent(a.account)}/mfa-reset`);
    toast("已重置动态口令，下次登录时重新绑定", "success");
    reload();
  } catch (err) {
    toast(err.message, "error");
  }
}

async function unlock(a, reload) {
  try {
    await api("POST", `/api/admin/accounts/${encodeURIComponent(a.account)}/unlock`);
    toast(`已解锁账号 ${a.account}`, "success");
    reload();
  } catch (err) {
    toast(err.message, "error");
  }
}
