// 管理端 · 参保任务: each unit's yearly enrolment target (参保任务数) beside its
// insured count and completion, set one by one or imported from Excel (the
// template lists every unit; rows matched by 统一社会信用代码 or 平台账号).
import { api, download, upload } from "../api.js";
import { DIVISIONS } from "../codes.js";
import {
  clearErrors, dataTable, errorBlock, field, h, loadingBlock, modal, pager, replace, select, setFieldErrors,
  showFormError, toast,
} from "../dom.js";

function pct(v) {
  return v == null ? "未下达" : `${(v * 100).toFixed(1)}%`;
}

export function render(root) {
  const thisYear = new Date().getFullYear();
  let page = 1;
  let size = 20;
  const year = h("input", { type: "number", min: "2000", max: "2100", value: String(thisYear) });
  const division = select(DIVISIONS, { placeholder: "全部" });
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "查询条件" },
    field({ label: "年度", name: "year", input: year }),
    field({ label: "所属区县", name: "division", input: division }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "查询"),
      h("button", { type: "button", class: "btn", onclick: () => download(`/api/admin/targets/${year.value}/template`, null, `${year.value}年度参保任务数.xlsx`) }, "下载模板"),
      h("button", { type: "button", class: "btn", onclick: () => openImport(year.value, load) }, "导入任务数")));
  const list = h("div", null, loadingBlock());
  const load = async () => {
    replace(list, loadingBlock());
    try {
      const query = { level: "unit", year: year.value, sort: "completion", page, size };
      if (division.value) query.division = division.value;
      const data = await api("GET", "/api/admin/dashboard", { query });
      replace(list, dataTable([
        { title: "单位", key: "name" },
        { title: "区县 / 街道", render: (r) => `${r.division_name || ""} ${r.street || ""}` },
        { title: "参保人数", render: (r) => String(r.insured), class: "num" },
        { title: "参保任务数", render: (r) => (r.target ? String(r.target) : "未下达"), class: "num" },
        { title: "完成率", render: (r) => pct(r.completion), class: "num" },
        { title: "操作", render: (r) => h("button", { type: "button", class: "btn btn-small", onclick: () => openSet(year.value, r, load) }, "设置任务数") },
      ], data.items, { caption: "参保任务", empty: "暂无单位" }),
      pager({ page, size, total: data.total_items, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err, load));
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); page = 1; load(); });
  root.append(h("div", { class: "card" }, form), h("div", { class: "card" }, list));
  load();
}

function openSet(year, unit, reload) {
  const target = h("input", { type: "number", min: "0", max: "1000000", value: unit.target ? String(unit.target) : "" });
  const form = h("form", { novalidate: true, "aria-label": "设置参保任务数" },
    h("p", null, `${year}年度 · ${unit.name}`),
    field({ label: "参保任务数", name: "target", input: target, required: true }),
    h("button", { type: "submit", hidden: true, tabindex: "-1" }, "保存"));
  const save = async (close) => {
    clearErrors(form);
    const value = Number(target.value);
    if (target.value === "" || !Number.isInteger(value) || value < 0) {
      setFieldErrors(form, { target: ["请输入0或正整数"] });
      return;
    }
    try {
      await api("PUT", `/api/admin/targets/${year}/${unit.unit_id}`, { body: { target: value } });
      close();
      toast("已保存参保任务数", "success");
      reload();
    } catch (err) {
      showFormError(form, err);
    }
  };
  const m = modal({ title: "设置参保任务数", content: form, actions: [{ text: "取消" }, { text: "保存", primary: true, onClick: (close) => save(close) }] });
  form.addEventListener("submit", (e) => { e.preventDefault(); save(m.close); });
}

function openImport(year, reload) {
  const file = h("input", { type: "file", accept: ".xlsx" });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, "aria-label": "导入参保任务数" },
    h("p", null, `${year}年度：按模板填写参保任务数，按统一社会信用代码或平台账号匹配单位。`),
    field({ label: "选择文件", name: "file", input: file, required: true }), result);
  const run = async () => {
    clearErrors(form);
    if (!file.files.length) return setFieldErrors(form, { file: ["请选择要上传的文件"] });
    replace(result, loadingBlock("正在导入…"));
    try {
      const data = await upload(`/api/admin/targets/${year}/import`, null, file.files[0]);
      const parts = [h("div", { class: `alert ${data.failed ? "alert-warn" : "alert-success"}`, role: "status" },
        `共${data.total}行：成功${data.succeeded}行，失败${data.failed}行。`)];
      if (data.failed) {
        parts.push(dataTable([{ title: "行号", key: "row" }, { title: "单位", key: "account" }, { title: "失败原因", key: "reason" }],
          data.failures, { caption: "导入失败的行" }));
        if (data.failures_file) {
          const bytes = Uint8Array.from(atob(data.failures_file), (c) => c.charCodeAt(0));
          const href = URL.createObjectURL(new Blob([bytes], { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" }));
          parts.push(h("p", null, h("a", { class: "btn", href, download: `${year}年度参保任务数-失败原因.xlsx` }, "下载失败原因文件")));
        }
      }
      replace(result, ...parts);
      if (data.succeeded) reload();
    } catch (err) {
      replace(result);
      showFormError(form, err);
    }
    return null;
  };
  modal({ title: "导入参保任务数", content: form, wide: true, actions: [{ text: "关闭" }, { text: "导入", primary: true, onClick: () => run() }] });
}
