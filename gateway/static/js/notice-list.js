// The message list, as on 首页 (short) and on the full 通知公告 page: unread
// marks, a title opens the detail, paging.
import { api } from "./api.js";
import { emptyBlock, errorBlock, fmtDay, h, loadingBlock, pager, replace } from "./dom.js";

export function noticeList({ size = 5, sizes, onLoaded } = {}) {
  const box = h("div", { class: "notice-box" });
  let page = 1;
  let pageSize = size;

  async function load() {
    replace(box, loadingBlock());
    try {
      const data = await api("GET", "/api/notices", { query: { page, size: pageSize } });
      const items = data.items || [];
      if (onLoaded) onLoaded(data);
      if (!items.length) {
        replace(box, emptyBlock("暂无通知公告"));
        return;
      }
      const list = h("ul", { class: "notice-list" }, items.map((n) => h("li", {
        class: n.read ? "read" : "unread", dataset: { id: String(n.id) },
      },
      h("span", { class: "dot", title: n.read ? "" : "未读" }),
      n.read ? null : h("span", { class: "sr-only" }, "未读："),
      n.pinned ? h("span", { class: "status status-ok" }, "置顶") : null,
      h("a", { href: `#/notices/${n.id}`, title: n.title }, n.title),
      h("span", { class: "notice-date" }, fmtDay(n.published_at)))));
      replace(box, list, pager({
        page, size: pageSize, total: data.total, sizes: sizes || [pageSize, 10, 20, 50].filter((v, i, a) => a.indexOf(v) === i).sort((a, b) => a - b),
        onChange: (p, s) => { page = p; pageSize = s; load(); },
      }));
    } catch (err) {
      replace(box, errorBlock(err, load));
    }
  }

  load();
  return box;
}
