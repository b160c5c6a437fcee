// The past batch submissions, filtered by 申报类型, 申报日期 and 批次号 with
// 【搜索】 and 【重置】; each batch's failures in a popup.
import { api, download } from "./api.js";
import { BATCH_TYPES, label } from "./codes.js";
import {
  clearErrors, dataTable, errorBlock, field, fmtDateTime, formValues, h, loadingBlock, modal, pager, replace,
  select, setFieldErrors, toast,
} from "./dom.js";
import { personLink } from "./people.js";

export function batchTypeLabel(type) {
  return label(BATCH_TYPES, type);
}

// The rejected rows, 证件号码 masked (the failures file has them whole); a
// name opens the person when the row names one of this unit.
export function failuresTable(failures) {
  return dataTable([
    { title: "行号", render: (f) => String(f.row ?? "") },
    { title: "证件号码", key: "cert_no", class: "mono" },
    { title: "姓名", render: (f) => personLink(f) },
    { title: "失败原因", key: "reason" },
  ], failures, { empty: "没有失败数据", caption: "失败数据" });
}

export async function downloadFailures(batchNo, button) {
  if (button) button.disabled = true;
  try {
    await download(`/api/batches/${encodeURIComponent(batchNo)}/failures.xlsx`, null, `失败数据_${batchNo}.xlsx`);
  } catch (err) {
    toast(err.message, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

export function batchSummary(b) {
  return h("dl", { class: "kv" },
    [["批次号", b.batch_no], ["申报类型", batchTypeLabel(b.business_type)], ["申报时间", fmtDateTime(b.submitted_at)],
      ["文件名", b.file_name], ["处理状态", b.status_label || "已完成"],
      ...(b.status === "failed" ? [["失败原因", b.message]] :
        [["总条数", b.total], ["提交成功条数", b.succeeded], ["提交失败条数", b.failed]])]
      .map(([k, v]) => [h("dt", null, k), h("dd", { dataset: { key: k } }, v == null ? "" : String(v))]));
}

export function openBatch(batchNo) {
  const body = h("div", null, loadingBlock());
  const dl = h("button", { type: "button", class: "btn", hidden: true }, "下载失败数据");
  dl.addEventListener("click", () => downloadFailures(batchNo, dl));
  const m = modal({ title: `批次详情 ${batchNo}`, content: body, wide: true, actions: [{ text: "关闭", primary: true }] });
  m.footer.prepend(dl);
  api("GET", `/api/batches/${encodeURIComponent(batchNo)}`)
    .then((b) => {
      dl.hidden = !b.failed || b.status === "failed";
      replace(body, batchSummary(b),
        b.status === "done" || !b.status ? [h("h3", { class: "sub-title" }, "失败数据"), failuresTable(b.failures || [])] : null);
    })
    .catch((err) => replace(body, errorBlock(err)));
}

// {el, reload()}. `type` presets 申报类型; `batchNo` presets 批次号.
export function batchList({ type = "", batchNo = "" } = {}) {
  let page = 1;
  let size = 10;
  const typeSelect = select(BATCH_TYPES, { placeholder: "全部", value: type });
  const from = h("input", { type: "date" });
  const to = h("input", { type: "date" });
  const no = h("input", { type: "text", maxlength: "40", class: "mono", value: batchNo });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "批量提交记录查询条件" },
    field({ label: "申报类型", name: "business_type", input: typeSelect }),
    field({ label: "申报日期（起）", name: "from", input: from }),
    field({ label: "申报日期（止）", name: "to", input: to }),
    field({ label: "批次号", name: "batch_no", input: no }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "搜索"),
      h("button", { type: "reset", class: "btn" }, "重置")));
  const list = h("div", null, loadingBlock());
  let filters = Object.fromEntries(Object.entries({ business_type: type, batch_no: batchNo }).filter(([, v]) => v));

  // anything chosen beyond the preset type
  const searched = () => Object.entries(filters).some(([k, v]) => !(k === "business_type" && v === type));
  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/batches", { query: { ...filters, page, size } });
      replace(list,
        dataTable([
          { title: "批次号", key: "batch_no", class: "mono" },
          { title: "申报类型", render: (b) => batchTypeLabel(b.business_type) },
          { title: "申报日期", render: (b) => fmtDateTime(b.submitted_at), class: "nowrap" },
          { title: "文件名", key: "file_name" },
          { title: "总条数", render: (b) => String(b.total ?? "") },
          { title: "提交成功条数", render: (b) => h("span", { class: "status status-ok" }, String(b.succeeded ?? "")) },
          { title: "提交失败条数", render: (b) => h("span", { class: b.failed ? "status status-failed" : "" }, String(b.failed ?? "")) },
          { title: "处理状态", render: (b) => h("span", { class: `status ${b.status === "failed" ? "status-failed" : b.status === "done" || !b.status ? "status-ok" : ""}`, title: b.message || "" }, b.status_label || "已完成") },
          {
            title: "操作", class: "nowrap",
            render: (b) => h("span", { class: "row" },
              h("button", { type: "button", class: "btn-link", onclick: () => openBatch(b.batch_no) }, "详情"),
              b.failed && b.status === "done" ? h("button", { type: "button", class: "btn-link", onclick: (e) => downloadFailures(b.batch_no, e.currentTarget) }, "下载失败数据") : null),
          },
        ], data.items, { empty: searched() ? "没有符合条件的批次" : "暂无批量提交记录", caption: "批量提交记录" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err.notAvailable ? { message: "批量申报功能暂未开放" } : err, load));
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
    filters = Object.fromEntries(Object.entries(v).filter(([, x]) => x));
    page = 1;
    load();
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    clearErrors(form);
    typeSelect.value = type;
    from.value = "";
    to.value = "";
    no.value = "";
    filters = type ? { business_type: type } : {};
    page = 1;
    load();
  });
  load();
  return { el: h("div", null, form, list), reload: load };
}
