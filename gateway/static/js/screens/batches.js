// 增员减员申报 → 批量提交记录: every batch of the unit.
import { batchList } from "../batch-list.js";
import { h } from "../dom.js";

export function render(root, ctx) {
  root.querySelector(".screen-head").append(h("div", { class: "row" },
    h("a", { class: "btn", href: "#/declare/batch-enrolment" }, "批量城乡居民参保"),
    h("a", { class: "btn", href: "#/declare/batch-suspension" }, "批量城乡居民暂停参保")));
  root.append(h("div", { class: "card" }, batchList({ type: ctx.query.business_type || "", batchNo: ctx.query.batch_no || "" }).el));
}
