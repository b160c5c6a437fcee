// 首页: 单位基本信息, 消息列表, 常用功能, the 12-month chart and the latest
// 城乡居民参保记录.
import { api } from "../api.js";
import { monthlyChart } from "../chart.js";
import { dataTable, emptyBlock, errorBlock, h, loadingBlock, replace } from "../dom.js";
import { noticeList } from "../notice-list.js";
import { recordColumns } from "../people.js";

const SHORTCUTS = [
  ["/declare/enrolment", "城乡居民参保", "＋"],
  ["/declare/suspension", "城乡居民暂停参保", "−"],
  ["/declare/change", "城乡居民变更", "✎"],
  ["/declare/batch-enrolment", "批量城乡居民参保", "⇪"],
  ["/roster", "人员列表", "☰"],
  ["/records", "城乡居民参保记录", "⌕"],
];

function card(title, id, ...tail) {
  const head = h("div", { class: "card-head" }, h("h2", { id }, title), ...tail);
  return h("section", { class: "card", "aria-labelledby": id }, head);
}

function unitInfo() {
  const c = card("单位基本信息", "home-unit");
  const body = h("div", null, loadingBlock());
  c.append(body);
  const load = async () => {
    replace(body, loadingBlock());
    try {
      const u = await api("GET", "/api/unit");
      const item = (label, value, cls, key) => h("div", null, h("dt", null, label), h("dd", { class: cls, dataset: { key } }, value == null ? "" : String(value)));
      replace(body, h("dl", { class: "info-grid" },
        item("单位名称", u.name, "", "name"),
        item("平台账号", u.account, "", "account"),
        item("统一社会信用代码", u.credit_code, "mono", "credit_code"),
        item("城乡居民参保人数", u.insured_count, "num", "insured_count"),
        item(`本月增加人数${u.month ? `（${u.month}）` : ""}`, u.month_increase, "num up", "month_increase"),
        item(`本月减少人数${u.month ? `（${u.month}）` : ""}`, u.month_decrease, "num down", "month_decrease")));
    } catch (err) {
      replace(body, errorBlock(err, load));
    }
  };
  load();
  return c;
}

function shortcuts() {
  const c = card("常用功能", "home-shortcuts");
  c.append(h("nav", { class: "shortcuts", "aria-label": "常用功能" },
    SHORTCUTS.map(([href, text, icon]) => h("a", { class: "shortcut", href: `#${href}` },
      h("span", { class: "shortcut-icon", "aria-hidden": "true" }, icon), text))));
  return c;
}

function notices(ctx) {
  const c = card("消息列表", "home-notices", h("a", { class: "btn btn-small", href: "#/notices" }, "查看全部"));
  c.append(noticeList({ size: 5, onLoaded: () => ctx.refreshUnread() }));
  return c;
}

function chart() {
  const c = card("近12个月参保变化", "home-chart");
  const body = h("div", null, loadingBlock());
  c.append(body);
  const load = async () => {
    replace(body, loadingBlock());
    try {
      const data = await api("GET", "/api/unit/stats", { query: { months: 12 } });
      const months = data.months || [];
      replace(body, months.length ? monthlyChart(months) : emptyBlock("暂无统计数据"));
    } catch (err) {
      replace(body, errorBlock(err, load));
    }
  };
  load();
  return c;
}

function latestRecords() {
  const c = card("城乡居民参保记录", "home-records", h("a", { class: "btn btn-small", href: "#/records" }, "更多"));
  const body = h("div", null, loadingBlock());
  c.append(body);
  const load = async () => {
    replace(body, loadingBlock());
    try {
      const data = await api("GET", "/api/declarations", { query: { page: 1, size: 5 } });
      replace(body, dataTable(recordColumns(), data.items || [], { empty: "暂无申报记录", caption: "最新城乡居民参保记录" }));
    } catch (err) {
      replace(body, err.notAvailable ? emptyBlock("申报记录功能即将开放") : errorBlock(err, load));
    }
  };
  load();
  return c;
}

export function render(root, ctx) {
  root.append(
    h("div", { class: "grid-2" }, unitInfo(), shortcuts()),
    h("div", { class: "grid-2", style: "margin-top:16px" }, notices(ctx), chart()),
    h("div", { style: "margin-top:16px" }, latestRecords()));
}
