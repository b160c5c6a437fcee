// Small DOM helpers. Every piece of data reaches the page through text nodes
// or textContent, never through innerHTML, so names and notices holding HTML or
// script are shown as the text they are.

const PROPS = new Set(["value", "checked", "disabled", "selected", "readOnly", "hidden", "multiple"]);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (key === "class") el.className = v;
    else if (key === "text") el.textContent = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key === "value") value = v;
    else if (key.startsWith("on") && typeof v === "function") el.addEventListener(key.slice(2), v);
    else if (PROPS.has(key)) el[key] = v;
    else el.setAttribute(key, v === true ? "" : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let seq = 0;
export function uid(prefix = "f") {
  seq += 1;
  return `${prefix}-${seq}`;
}

// ---- formatting -------------------------------------------------------------

export function fmtDate(value) {
  if (!value) return "";
  return String(value).slice(0, 10);
}

// Times are shown in the platform's business time zone (泉州: Asia/Shanghai),
// whatever the time zone of the computer.
export const BUSINESS_TZ = "Asia/Shanghai";
let tzFormat = null;
function zoned(d) {
  if (!tzFormat) {
    try {
      tzFormat = new Intl.DateTimeFormat("en-GB", {
        timeZone: BUSINESS_TZ, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    } catch {
      tzFormat = false;
    }
  }
  const p = (n) => String(n).padStart(2, "0");
  if (!tzFormat) return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  const parts = Object.fromEntries(tzFormat.formatToParts(d).map((x) => [x.type, x.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

export function fmtDateTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return zoned(d);
}

// The calendar day of a time in the business time zone; a plain date as is.
export function fmtDay(value) {
  if (!value) return "";
  if (/^\d{4}-\d{2}-\d{2}$/.test(String(value))) return String(value);
  return fmtDateTime(value).slice(0, 10);
}

export function today() {
  return zoned(new Date()).slice(0, 10);
}

// ---- busy bar, loading and empty states -------------------------------------

let inFlight = 0;
export function busy(delta) {
  inFlight = Math.max(0, inFlight + delta);
  const bar = document.getElementById("busy");
  if (bar) bar.hidden = inFlight === 0;
  document.body.toggleAttribute("data-busy", inFlight > 0);
}

export function loadingBlock(text = "加载中…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

export function emptyBlock(text = "暂无数据") {
  return h("div", { class: "empty" }, text);
}

export function errorBlock(err, retry) {
  return h("div", { class: "alert alert-error", role: "alert" },
    (err && err.message) || "加载失败",
    retry ? h("button", { type: "button", class: "btn btn-link", onclick: retry }, "重试") : null);
}

// ---- toasts -----------------------------------------------------------------

export function toast(message, kind = "info", ms = 3500) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

// ---- tables and paging -------------------------------------------------------

// columns: [{title, key, render(row, i) -> Node|string, class}]
export function dataTable(columns, rows, { empty = "暂无数据", caption, rowClass } = {}) {
  const head = h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.class }, c.title))));
  const body = h("tbody");
  if (!rows || rows.length === 0) {
    body.append(h("tr", { class: "empty-row" }, h("td", { colspan: columns.length }, emptyBlock(empty))));
  } else {
    rows.forEach((row, i) => {
      const tr = h("tr", { class: rowClass ? rowClass(row) : null });
      for (const c of columns) {
        const v = c.render ? c.render(row, i) : row[c.key];
        tr.append(h("td", { class: c.class }, v == null || v === "" ? "" : v));
      }
      body.append(tr);
    });
  }
  return scrollBox(h("div", { class: "table-wrap" },
    h("table", { class: "table" }, caption ? h("caption", { class: "sr-only" }, caption) : null, head, body)), caption || "表格");
}

// A box that scrolls sideways inside the page (a wide table on a phone):
// while its content overflows it is a labelled region in the Tab order, so
// it can be scrolled from the keyboard too; otherwise it is a plain box.
export function scrollBox(el, label) {
  el.classList.add("scroll-box");
  const check = () => {
    const scrolls = el.scrollWidth > el.clientWidth + 1;
    if (scrolls && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", `${label}（可左右滑动查看）`);
    } else if (!scrolls && el.hasAttribute("tabindex")) {
      for (const a of ["tabindex", "role", "aria-label"]) el.removeAttribute(a);
    }
  };
  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver(check);
    ro.observe(el);
    if (el.firstElementChild) ro.observe(el.firstElementChild);
  }
  return el;
}

export function pager({ page, size, total, onChange, sizes = [10, 20, 50, 100] }) {
  const pages = Math.max(1, Math.ceil((total || 0) / size));
  const go = (p) => onChange(Math.min(Math.max(1, p), pages), size);
  const sizeSelect = h("select", { "aria-label": "每页条数", onchange: (e) => onChange(1, Number(e.target.value)) },
    sizes.map((s) => h("option", { value: String(s), selected: s === size }, `${s}条/页`)));
  return h("nav", { class: "pager", "aria-label": "分页" },
    h("span", { class: "pager-total" }, `共 ${total || 0} 条`),
    sizeSelect,
    h("button", { type: "button", class: "btn btn-small", disabled: page <= 1, onclick: () => go(page - 1) }, "上一页"),
    h("span", { class: "pager-page" }, `第 ${page} / ${pages} 页`),
    h("button", { type: "button", class: "btn btn-small", disabled: page >= pages, onclick: () => go(page + 1) }, "下一页"));
}

// ---- dialogs ----------------------------------------------------------------

const FOCUSABLE = "a[href],button:not([disabled]),input:not([disabled]):not([type=hidden]),select:not([disabled]),textarea:not([disabled]),[tabindex]:not([tabindex='-1'])";

export function modal({ title, content, actions = [], wide = false, onClose, closable = true }) {
  const previous = document.activeElement;
  const titleId = uid("dlg");
  const body = h("div", { class: "modal-body" }, content);
  const footer = h("div", { class: "modal-foot" });
  const dialog = h("div", { class: `modal${wide ? " modal-wide" : ""}`, role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, tabindex: "-1" },
    h("div", { class: "modal-head" },
      h("h2", { id: titleId }, title),
      closable ? h("button", { type: "button", class: "modal-x", "aria-label": "关闭对话框", onclick: () => close() }, "×") : null),
    body, footer);
  const overlay = h("div", { class: "modal-overlay" }, dialog);
  let closed = false;
  function close(result) {
    if (closed) return;
    closed = true;
    overlay.remove();
    document.removeEventListener("keydown", onKey, true);
    if (previous && previous.focus && document.contains(previous)) previous.focus();
    if (onClose) onClose(result);
  }
  function onKey(e) {
    if (e.key === "Escape" && closable) {
      e.preventDefault();
      close();
    } else if (e.key === "Tab") {
      const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((x) => x.offsetParent !== null);
      if (items.length === 0) return;
      const first = items[0];
      const last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    }
  }
  for (const a of actions) {
    footer.append(h("button", {
      type: "button", class: `btn ${a.primary ? "btn-primary" : ""} ${a.danger ? "btn-danger" : ""}`,
      onclick: () => (a.onClick ? a.onClick(close) : close(a.value)),
    }, a.text));
  }
  if (!actions.length) footer.remove();
  document.addEventListener("keydown", onKey, true);
  document.body.append(overlay);
  const firstInput = body.querySelector("input,select,textarea");
  (firstInput || footer.querySelector(".btn-primary") || dialog).focus();
  return { close, dialog, body, footer };
}

export function confirmDialog({ title = "请确认", message, okText = "确定", cancelText = "取消", danger = false }) {
  return new Promise((resolve) => {
    const m = modal({
      title,
      content: h("p", { class: "confirm-text" }, message),
      actions: [
        { text: cancelText, value: false },
        { text: okText, value: true, primary: !danger, danger },
      ],
      onClose: (v) => resolve(v === true),
    });
    m.footer.querySelector(danger ? ".btn-danger" : ".btn-primary").focus();
  });
}

// ---- forms ------------------------------------------------------------------

export function field({ label, name, input, required = false, hint, wide = false }) {
  const id = input.id || uid(name || "f");
  input.id = id;
  if (name) input.name = name;
  if (required) input.setAttribute("aria-required", "true");
  const errId = `${id}-err`;
  input.setAttribute("aria-describedby", errId);
  // a reason shown under a field goes away once the field is edited
  const edited = () => {
    const slot = document.getElementById(errId);
    if (slot) slot.textContent = "";
    input.removeAttribute("aria-invalid");
  };
  const choice = input.tagName === "SELECT" || ["file", "checkbox", "radio"].includes(input.type);
  input.addEventListener(choice ? "change" : "input", edited);
  return h("div", { class: `field${wide ? " field-wide" : ""}`, dataset: { field: name || "" } },
    h("label", { for: id }, required ? h("span", { class: "req", "aria-hidden": "true" }, "*") : null, label),
    input,
    hint ? h("div", { class: "hint" }, hint) : null,
    h("div", { class: "field-error", id: errId, dataset: { errorFor: name || "" }, "aria-live": "polite" }));
}

// A dropdown of a code table, showing "code label" as the manual's forms do.
export function select(options, { value, placeholder, ...props } = {}) {
  const el = h("select", props,
    placeholder !== undefined ? h("option", { value: "" }, placeholder) : null,
    options.map(([code, text]) => h("option", { value: code }, /^\d+$/.test(code) ? `${code} ${text}` : text)));
  if (value !== undefined && value !== null) el.value = value;
  return el;
}

export function formAlert(form) {
  let box = form.querySelector(":scope > .form-alert");
  if (!box) {
    box = h("div", { class: "form-alert", role: "alert" });
    form.prepend(box);
  }
  return box;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = form.querySelector(":scope > .form-alert");
  if (box) { box.textContent = ""; box.className = "form-alert"; }
}

// Show reasons per field ({field: [reasons]}); returns names it could not place.
export function setFieldErrors(form, details) {
  const unplaced = [];
  let first = null;
  for (const [name, reasons] of Object.entries(details || {})) {
    const text = flattenReasons(reasons);
    const slot = form.querySelector(`.field-error[data-error-for="${CSS.escape(name)}"]`);
    if (!slot) { unplaced.push(`${name}：${text}`); continue; }
    slot.textContent = text;
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  if (first) first.focus();
  return unplaced;
}

export function flattenReasons(reasons) {
  if (reasons == null) return "";
  if (Array.isArray(reasons)) return reasons.map(flattenReasons).join("；");
  if (typeof reasons === "object") return Object.entries(reasons).map(([k, v]) => `${k}：${flattenReasons(v)}`).join("；");
  return String(reasons);
}

export function showFormError(form, err) {
  clearErrors(form);
  const unplaced = setFieldErrors(form, err.details || {});
  const box = formAlert(form);
  box.className = "form-alert alert alert-error";
  box.textContent = [err.message || "提交失败", ...unplaced].join("；");
}

export function showFormSuccess(form, message) {
  const box = formAlert(form);
  box.className = "form-alert alert alert-success";
  box.textContent = message;
}

export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (typeof v === "string") out[k] = v.trim();
  }
  return out;
}
