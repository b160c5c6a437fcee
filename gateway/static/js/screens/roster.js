// 居民业务办理 → 人员列表: the unit's roster on entry, 证件号码 and 联系电话
// masked; exact search by the full 证件号码 and 姓名; 详情 opens the person by
// its person_id with full values; 【下载】 the roster as Excel (full values).
import { api, download } from "../api.js";
import { CATEGORIES, CERT_TYPES, GENDERS, STATUSES, label } from "../codes.js";
import {
  dataTable, errorBlock, field, fmtDay, formValues, h, loadingBlock, pager, replace, select, toast,
} from "../dom.js";
import { openPerson } from "../people.js";
import { normalizeCertNo } from "../validate.js";

function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, label(STATUSES, status));
}

export function render(root) {
  let page = 1;
  let size = 20;
  let filters = {};
  const certNo = h("input", { type: "text", maxlength: "40", class: "mono", placeholder: "完整证件号码" });
  const name = h("input", { type: "text", maxlength: "50", placeholder: "完整姓名" });
  const status = select(STATUSES, { placeholder: "全部" });
  const downloadBtn = h("button", { type: "button", class: "btn" }, "下载");
  const form = h("form", { class: "filters", novalidate: true, "aria-label": "查询条件" },
    field({ label: "证件号码", name: "cert_no", input: certNo }),
    field({ label: "姓名", name: "name", input: name }),
    field({ label: "参保状态", name: "status", input: status }),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, "查询"),
      h("button", { type: "reset", class: "btn" }, "重置"),
      downloadBtn));
  const list = h("div", null, loadingBlock());

  const load = async () => {
    replace(list, loadingBlock());
    try {
      const data = await api("GET", "/api/residents", { query: { ...filters, page, size } });
      replace(list,
        dataTable([
          { title: "姓名", key: "name" },
          { title: "证件类型", render: (p) => label(CERT_TYPES, p.cert_type) },
          { title: "证件号码", key: "cert_no", class: "mono" },
          { title: "性别", render: (p) => label(GENDERS, p.gender) },
          { title: "人员类别", render: (p) => label(CATEGORIES, p.category) },
          { title: "联系电话", key: "phone", class: "mono" },
          { title: "参保状态", render: (p) => statusBadge(p.status) },
          { title: "状态起始日期", render: (p) => fmtDay(p.since), class: "nowrap" },
          {
            title: "操作", class: "nowrap",
            render: (p) => h("button", { type: "button", class: "btn-link", onclick: () => openPerson(p.person_id), "aria-label": `查看${p.name}的个人信息` }, "详情"),
          },
        ], data.items, { empty: Object.keys(filters).length ? "没有找到符合条件的人员" : "本单位暂无参保人员", caption: "参保人员名单" }),
        pager({ page, size, total: data.total, onChange: (p, s) => { page = p; size = s; load(); } }));
    } catch (err) {
      replace(list, errorBlock(err.notAvailable ? { message: "人员列表功能暂未开放" } : err, load));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = formValues(form);
    if (v.cert_no) v.cert_no = normalizeCertNo(v.cert_no);
    filters = Object.fromEntries(Object.entries(v).filter(([, x]) => x));
    page = 1;
    load();
  });
  form.addEventListener("reset", () => setTimeout(() => { filters = {}; page = 1; load(); }));
  downloadBtn.addEventListener("click", async () => {
    downloadBtn.disabled = true;
    downloadBtn.textContent = "正在生成…";
    try {
      await download("/api/residents/export", filters, "参保人员名单.xlsx");
    } catch (err) {
      toast(err.message, "error");
    } finally {
      downloadBtn.disabled = false;
      downloadBtn.textContent = "下载";
    }
  });
  root.append(h("div", { class: "card" }, form, list));
  load();
}
