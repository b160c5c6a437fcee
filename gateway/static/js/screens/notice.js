// 通知公告详情: one notice; opening it marks it read for the unit.
import { api } from "../api.js";
import { errorBlock, fmtDateTime, h, loadingBlock, replace } from "../dom.js";
import { renderNoticeBody } from "../markdown.js";

export function render(root, ctx) {
  const back = h("button", { type: "button", class: "btn", onclick: () => (history.length > 1 ? history.back() : ctx.navigate("/notices")) }, "返回");
  root.querySelector(".screen-head").append(h("div", { class: "row" }, h("a", { class: "btn", href: "#/notices" }, "全部通知"), back));
  const body = h("article", { class: "card notice-article" }, loadingBlock());
  root.append(body);
  const load = async () => {
    replace(body, loadingBlock());
    try {
      const n = await api("GET", `/api/notices/${encodeURIComponent(ctx.params.id)}`);
      replace(body,
        h("h2", { class: "notice-title" }, n.title),
        h("div", { class: "notice-meta" }, `发布时间：${fmtDateTime(n.published_at)}`),
        renderNoticeBody(n.body));
      ctx.refreshUnread();
    } catch (err) {
      replace(body, errorBlock(err.status === 404 ? { message: "该通知不存在或已撤回" } : err, err.status === 404 ? null : load));
    }
  };
  load();
}
