// 相关查询 → 城乡居民参保记录: every record on entry; 【更多】 shows the filters
// (业务类型 fixed, 申报日期, 姓名, 证件号码); a popup with each record's details.
import { api } from "../api.js";
import { BUSINESS_TYPES } from "../codes.js";
import { clearErrors, dataTable, errorBlock, field, formValues, h, loadingBlock, pager, replace, select, setFieldErrors } from "../dom.js";
import { recordColumns } from "../people.js";
import { normalizeCertNo } from "../validate.js";

const FILTERS = ["business_type", "from", "to", "name", "cert_no", "batch_no"];

export function render(root, ctx) {
  let page = 1;
  let size = 20;
  let filters = Object.fromEntries(FILTERS.filter((k) => ctx.query[k]).map((k) => [k, ctx.query[k]]));
  const fixedType = h("input", { type: "text", readOnly: true, value: "城乡居民参保", "aria-label": "业务类型" });
  const kind = select(BUSINESS_TYPES, { placeholder: "全部", value: filters.business_type || "" });
  const from = h("input", { type: "date", value: filters.from || "" });
  const to = h("input", { type: "date", value: filters.to || "" });
  const name = h("input", { type: "text", maxlength: "50", value: filters.name || "" });
  const certNo = h("input", { type: "text", maxlength: "40", class: "mono", value: filters.cert_no || "" });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "查询条件", hidden: !Object.keys(filters).length },
    h("div", { class: "field" }, h("label", null, "业务类型"), fixedType),
    field({ label: "办理事项", name: "business_type", input: kind }),
    field({ label: "申报日期（起）", name: "from", input: from }),
    field({ label: "申报日期（止）", name: "to", input: to }),
    field({ label: "姓名", name: "name", input: name }),
    field({ label: "证件号码", name: "cert_no", input: certNo }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "搜索"),
      h("button", { type: "reset", class: "btn" }, "重置")));
  const more = h("button", {
    type: "button", class: "btn", "aria-expanded": String(!form.hidden), "aria-controls": "records-filters",
    onclick: () => {
      form.hidden = !form.hidden;
      more.setAttribute("aria-expanded", String(!form.hidden));
      more.textContent = form.hidden ? "更多" : "收起";
      if (!form.hidden) kind.focus();
    },
  }, form.hidden ? "更多" : "收起");
  form.id = "records-filters";
  const list = h("div", null, loadingBlock());

  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/declarations", { query: { ...filters, page, size } });
      replace(list,
        dataTable(recordColumns(), data.items, { empty: Object.keys(filters).length ? "没有符合条件的记录" : "暂无申报记录", caption: "城乡居民参保记录" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err.notAvailable ? { message: "申报记录功能暂未开放" } : err, load));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    if (v.from && v.to && v.from > v.to) {
      setFieldErrors(form, { to: ["结束日期不能早于开始日期"] });
      return;
    }
    if (v.cert_no) v.cert_no = normalizeCertNo(v.cert_no);
    filters = Object.fromEntries(Object.entries(v).filter(([, x]) => x));
    page = 1;
    load();
  });
  form.addEventListener("reset", () => {
    setTimeout(() => {
      clearErrors(form);
      filters = {};
      page = 1;
      load();
    });
  });
  root.querySelector(".screen-head").append(more);
  root.append(h("div", { class: "card" }, form, list));
  load();
}
