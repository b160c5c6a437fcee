// 管理端 · 通知公告管理: every notice with its state and read count;
// 发布, 编辑 and 撤回.
import { api, newKey } from "../api.js";
import {
  clearErrors, confirmDialog, dataTable, errorBlock, field, fmtDateTime, h, loadingBlock, modal, pager, replace,
  setFieldErrors, showFormError, toast,
} from "../dom.js";
import { renderNoticeBody } from "../markdown.js";

const STATE_LABELS = { published: "已发布", withdrawn: "已撤回" };

export function render(root) {
  let page = 1;
  let size = 20;
  let state = "";
  const list = h("div", null, loadingBlock());
  const stateSelect = h("select", { "aria-label": "状态", onchange: () => { state = stateSelect.value; page = 1; load(); } },
    h("option", { value: "" }, "全部状态"), h("option", { value: "published" }, "已发布"), h("option", { value: "withdrawn" }, "已撤回"));
  stateSelect.style.width = "140px";

  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/admin/notices", { query: { page, size, state } });
      replace(list,
        dataTable([
          { title: "标题", render: (n) => h("span", null, n.pinned ? h("span", { class: "status status-ok" }, "置顶") : null, " ", n.title) },
          { title: "发布时间", render: (n) => fmtDateTime(n.published_at), class: "nowrap" },
          { title: "状态", render: (n) => h("span", { class: `status status-${n.state === "published" ? "ok" : "withdrawn"}` }, STATE_LABELS[n.state] || n.state) },
          { title: "已读单位数", render: (n) => String(n.read_count ?? 0) },
          {
            title: "操作", class: "nowrap",
            render: (n) => h("span", { class: "row" },
              h("button", { type: "button", class: "btn-link", onclick: () => preview(n.id) }, "查看"),
              h("button", { type: "button", class: "btn-link", onclick: () => edit(n.id, load) }, "编辑"),
              n.state === "published" ? h("button", { type: "button", class: "btn-link", onclick: () => withdraw(n, load) }, "撤回") : null),
          },
        ], data.items, { empty: "暂无通知公告", caption: "通知公告列表" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  root.querySelector(".screen-head").append(h("div", { class: "row" }, stateSelect,
    h("button", { type: "button", class: "btn btn-primary", onclick: () => editor(null, load) }, "发布通知")));
  root.append(h("div", { class: "card" }, list));
  load();
}

async function preview(id) {
  const body = h("div", null, loadingBlock());
  modal({ title: "通知预览", content: body, wide: true, actions: [{ text: "关闭", primary: true }] });
  try {
    const n = await api("GET", `/api/admin/notices/${id}`);
    replace(body, h("h2", { class: "notice-title" }, n.title),
      h("div", { class: "notice-meta" }, `发布时间：${fmtDateTime(n.published_at)}　状态：${STATE_LABELS[n.state] || n.state}　发布人：${n.published_by || ""}`),
      renderNoticeBody(n.body));
  } catch (err) {
    replace(body, errorBlock(err));
  }
}

async function edit(id, reload) {
  try {
    editor(await api("GET", `/api/admin/notices/${id}`), reload);
  } catch (err) {
    toast(err.message, "error");
  }
}

async function withdraw(n, reload) {
  const ok = await confirmDialog({
    title: "撤回通知", message: `确定撤回通知“${n.title}”吗？撤回后各单位将看不到该通知。`, okText: "撤回", danger: true,
  });
  if (!ok) return;
  try {
    await api("POST", `/api/admin/notices/${n.id}/withdraw`);
    toast("通知已撤回", "success");
    reload();
  } catch (err) {
    toast(err.message, "error");
  }
}

function editor(notice, reload) {
  const title = h("input", { type: "text", maxlength: "100", value: notice ? notice.title : "" });
  const body = h("textarea", { rows: "12", maxlength: "20000", value: notice ? notice.body : "" });
  const pinned = h("input", { type: "checkbox", id: "notice-pinned", checked: notice ? notice.pinned : false });
  const previewBox = h("div", { class: "card", hidden: true });
  const key = newKey();
  const form = h("form", { novalidate: true, "aria-label": notice ? "编辑通知" : "发布通知" },
    field({ label: "标题", name: "title", input: title, required: true }),
    field({ label: "正文", name: "body", input: body, required: true, hint: "支持纯文本，或简单格式：# 标题、**加粗**、*斜体*、- 列表、1. 列表、[链接文字](https://…)" }),
    h("label", { class: "row", for: "notice-pinned" }, pinned, "置顶显示"),
    h("div", { class: "actions" }, h("button", {
      type: "button", class: "btn btn-small", onclick: () => {
        replace(previewBox, h("h2", { class: "notice-title" }, title.value), renderNoticeBody(body.value));
        previewBox.hidden = false;
      },
    }, "预览")),
    previewBox);
  const save = async (close) => {
    clearErrors(form);
    const errors = {};
    if (!title.value.trim()) errors.title = ["请输入标题"];
    if (!body.value.trim()) errors.body = ["请输入正文"];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    const payload = { title: title.value.trim(), body: body.value, pinned: pinned.checked };
    try {
      if (notice) await api("PUT", `/api/admin/notices/${notice.id}`, { body: payload });
      else await api("POST", "/api/admin/notices", { body: payload, idempotencyKey: key });
      close();
      toast(notice ? "通知已修改" : "通知已发布", "success");
      reload();
    } catch (err) {
      showFormError(form, err);
    }
  };
  modal({
    title: notice ? "编辑通知" : "发布通知", content: form, wide: true,
    actions: [{ text: "取消" }, { text: notice ? "保存修改" : "发布", primary: true, onClick: save }],
  });
}
