// 通知公告: the full message list, with unread marks and paging.
import { h } from "../dom.js";
import { noticeList } from "../notice-list.js";

export function render(root, ctx) {
  root.querySelector(".screen-head").append(h("a", { class: "btn", href: ctx.session.role === "admin" ? "#/admin/notices" : "#/home" }, "返回"));
  root.append(h("div", { class: "card" }, noticeList({ size: 20, sizes: [10, 20, 50], onLoaded: () => ctx.refreshUnread() })));
}
