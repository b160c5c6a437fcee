// What the single-person declaration screens share: the 查询 step
// (证件类型, 证件号码, 姓名 → GET /api/residents/lookup), the person fields with
// gender and birth date taken from a 居民身份证, checks before submit, and
// the outcome panel.
import { api, newKey } from "./api.js";
import { CATEGORIES, CERT_TYPES, GENDERS, NATIONS, label, loadCodes } from "./codes.js";
import {
  clearErrors, field, fmtDateTime, formValues, h, replace, select, setFieldErrors, showFormError, today,
} from "./dom.js";
import { checkCategoryAge, checkCertNo, checkName, checkPhone } from "./validate.js";

export const LOOKUP_TEXT = {
  none: "该人员尚未在本平台参保",
  active_here: "该人员已在本单位正常参保",
  suspended_here: "该人员在本单位暂停参保",
  active_elsewhere: "该人员在其他单位正常参保",
  suspended_elsewhere: "该人员在其他单位暂停参保",
};

export function steps(names, current) {
  return h("ol", { class: "steps", "aria-label": "办理步骤" },
    names.map((n, i) => h("li", { class: i === current ? "on" : "", "aria-current": i === current ? "step" : null }, `${i + 1}. ${n}`)));
}

export function setStep(el, current) {
  [...el.children].forEach((li, i) => {
    li.className = i === current ? "on" : "";
    if (i === current) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  });
}

// Live check of the 证件号码 field: the GB 11643 check character as typed.
export function watchCertNo(typeInput, noInput, form, name = "cert_no") {
  const slot = () => form.querySelector(`.field-error[data-error-for="${name}"]`);
  const check = (final) => {
    const raw = noInput.value.trim();
    if (!raw) { slot().textContent = ""; noInput.removeAttribute("aria-invalid"); return; }
    const r = checkCertNo(typeInput.value, raw);
    const complete = typeInput.value !== "01" || r.value.length >= 18 || final;
    if (!r.ok && complete) {
      slot().textContent = r.reason;
      noInput.setAttribute("aria-invalid", "true");
    } else {
      slot().textContent = "";
      noInput.removeAttribute("aria-invalid");
    }
  };
  noInput.addEventListener("input", () => check(false));
  noInput.addEventListener("blur", () => check(true));
  typeInput.addEventListener("change", () => check(true));
}

// The 查询 form. onResult({query, result}) after a successful lookup.
export function lookupForm({ onResult, submitText = "查询", initial = {} }) {
  const certType = select(CERT_TYPES, { value: initial.cert_type || "01" });
  const certNo = h("input", { type: "text", maxlength: "40", autocomplete: "off", class: "mono", placeholder: "请输入证件号码", value: initial.cert_no || "" });
  const name = h("input", { type: "text", maxlength: "50", autocomplete: "off", placeholder: "请输入姓名", value: initial.name || "" });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, submitText);
  const reset = h("button", { type: "button", class: "btn" }, "重置");
  const form = h("form", { class: "lookup-form", novalidate: true, "aria-label": "查询人员" },
    h("div", { class: "lookup-row" },
      field({ label: "证件类型", name: "cert_type", input: certType, required: true }),
      field({ label: "证件号码", name: "cert_no", input: certNo, required: true }),
      field({ label: "姓名", name: "name", input: name, required: true }),
      h("div", { class: "actions" }, button, reset)));
  watchCertNo(certType, certNo, form);

  const api_ = {
    form,
    locked: false,
    lock() {
      for (const el of [certType, certNo, name]) el.disabled = true;
      button.hidden = true;
      reset.textContent = "重新查询";
      this.locked = true;
    },
    unlock() {
      for (const el of [certType, certNo, name]) el.disabled = false;
      button.hidden = false;
      reset.textContent = "重置";
      this.locked = false;
    },
    values() {
      return { cert_type: certType.value, cert_no: checkCertNo(certType.value, certNo.value).value, name: name.value.trim() };
    },
    onReset: null,
  };
  // 重新查询 keeps what was typed; 重置 and clearAll() start afresh.
  api_.clearAll = () => {
    api_.unlock();
    clearErrors(form);
    certNo.value = "";
    name.value = "";
    certType.value = "01";
    if (api_.onReset) api_.onReset();
    certNo.focus();
  };
  reset.addEventListener("click", () => {
    if (!api_.locked) { api_.clearAll(); return; }
    api_.unlock();
    clearErrors(form);
    if (api_.onReset) api_.onReset();
    certNo.focus();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = formValues(form);
    const errors = {};
    const c = checkCertNo(v.cert_type, v.cert_no);
    if (!c.ok) errors.cert_no = [c.reason];
    const n = checkName(v.name);
    if (!n.ok) errors.name = [n.reason];
    if (Object.keys(errors).length) {
      setFieldErrors(form, errors);
      return;
    }
    const query = { cert_type: v.cert_type, cert_no: c.value, name: n.value };
    button.disabled = true;
    button.textContent = "查询中…";
    try {
      const result = await api("GET", "/api/residents/lookup", { query });
      certNo.value = c.value;
      api_.lock();
      onResult({ query, result });
    } catch (err) {
      showFormError(form, err.notAvailable ? { message: "人员查询功能暂未开放，请稍后再试" } : err);
    } finally {
      button.disabled = false;
      button.textContent = submitText;
    }
  });
  // Opened from a person's details (人员列表) with the person's id: the
  // person's full values fill the form, and the lookup runs at once.
  if (initial.person_id) {
    api("GET", `/api/residents/p/${encodeURIComponent(initial.person_id)}`)
      .then((p) => {
        certType.value = p.cert_type;
        certNo.value = p.cert_no;
        name.value = p.name;
        if (form.requestSubmit) form.requestSubmit(); else button.click();
      })
      .catch((err) => showFormError(form, err));
  } else if (initial.cert_type && initial.cert_no && initial.name) {
    setTimeout(() => (form.requestSubmit ? form.requestSubmit() : button.click()));
  } else {
    setTimeout(() => certNo.focus());
  }
  return api_;
}

export function banner(kind, ...text) {
  return h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" }, ...text);
}

// Person fields of an enrolment or a change. `person` pre-fills them; with a
// 居民身份证 the gender and birth date come from the number and are locked.
export function personForm({ certType, certNo, derived, person = {}, withName = false, requireAll = true }) {
  const p = person || {};
  const inputs = {};
  const fromId = certType === "01" && derived && derived.ok;
  inputs.name = withName ? h("input", { type: "text", maxlength: "50", value: p.name || "" }) : null;
  inputs.gender = select(GENDERS, { placeholder: "请选择", value: fromId ? derived.gender : (p.gender || ""), disabled: fromId });
  inputs.birth_date = h("input", { type: "date", max: today(), value: fromId ? derived.birthDate : (p.birth_date || ""), readOnly: fromId });
  inputs.nation = select(NATIONS, { placeholder: "请选择", value: p.nation || "" });
  inputs.category = select(CATEGORIES, { placeholder: "请选择", value: p.category || "" });
  inputs.phone = h("input", { type: "tel", maxlength: "20", autocomplete: "off", value: p.phone || "", placeholder: "手机号码或带区号的固定电话" });
  inputs.hukou_address = h("input", { type: "text", maxlength: "200", value: p.hukou_address || "" });
  inputs.address = h("input", { type: "text", maxlength: "200", value: p.address || "" });
  inputs.remark = h("textarea", { rows: "2", maxlength: "500", value: p.remark || "" });
  const idHint = fromId ? "根据身份证号码自动填写" : null;
  const fields = [
    h("div", { class: "field" }, h("label", null, "证件类型"), h("input", { type: "text", readOnly: true, value: `${certType} ${label(CERT_TYPES, certType)}`, "aria-label": "证件类型" })),
    h("div", { class: "field" }, h("label", null, "证件号码"), h("input", { type: "text", readOnly: true, class: "mono", value: certNo, "aria-label": "证件号码" })),
    withName ? field({ label: "姓名", name: "name", input: inputs.name, required: true }) : null,
    field({ label: "性别", name: "gender", input: inputs.gender, required: !fromId && requireAll, hint: idHint }),
    field({ label: "出生日期", name: "birth_date", input: inputs.birth_date, required: !fromId && requireAll, hint: idHint }),
    field({ label: "民族", name: "nation", input: inputs.nation }),
    field({ label: "人员类别", name: "category", input: inputs.category, required: requireAll }),
    field({ label: "联系电话", name: "phone", input: inputs.phone, required: requireAll }),
    field({ label: "户籍地址", name: "hukou_address", input: inputs.hukou_address }),
    field({ label: "居住地址", name: "address", input: inputs.address, wide: true }),
    field({ label: "备注", name: "remark", input: inputs.remark, wide: true }),
  ];
  return { inputs, fields, fromId };
}

export function personValues(inputs) {
  const out = {};
  for (const [k, el] of Object.entries(inputs)) if (el) out[k] = el.value.trim();
  return out;
}

// Checks before submit; returns {field: [reasons]}.
export function checkPerson(v, { fromId, requireAll = true }) {
  const errors = {};
  if ("name" in v) {
    const n = checkName(v.name);
    if (!n.ok) errors.name = [n.reason];
  }
  if (!fromId && requireAll) {
    if (!v.gender) errors.gender = ["请选择性别"];
    if (!v.birth_date) errors.birth_date = ["请填写出生日期"];
  }
  if (v.birth_date && v.birth_date > today()) errors.birth_date = ["出生日期不能晚于今天"];
  if (requireAll && !v.category) errors.category = ["请选择人员类别"];
  if (v.category) {
    const ageProblem = checkCategoryAge(v.category, v.birth_date);
    if (ageProblem) errors.category = [ageProblem];
  }
  if (requireAll || v.phone) {
    const ph = checkPhone(v.phone);
    if (!ph.ok) errors.phone = [ph.reason];
  }
  return errors;
}

export function outcomePanel({ title, lines, actions, refused = false }) {
  return h("section", { class: `card outcome${refused ? " refused" : ""}`, role: "status", "aria-live": "polite" },
    h("div", { class: "card-head" }, h("h2", null, title)),
    h("dl", { class: "kv" }, lines.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    h("div", { class: "actions" }, actions));
}

export function recordsLink(certNo, text = "城乡居民记录") {
  return h("a", { class: "btn", href: `#/records?cert_no=${encodeURIComponent(certNo)}` }, text);
}

// Submit a declaration once: the key stays the same while the form is
// resubmitted after a network failure, so nothing is declared twice.
export function submitter(path) {
  let key = newKey();
  return {
    async send(body) {
      try {
        const result = await api("POST", path, { body, idempotencyKey: key });
        key = newKey();
        return result;
      } catch (err) {
        // A definite answer (refused, invalid): the next attempt is a new one.
        if (err.status >= 400 && err.status < 500) key = newKey();
        throw err;
      }
    },
    renew() { key = newKey(); },
  };
}

export function declaredAt(result) {
  return fmtDateTime(result.declared_at);
}

export { loadCodes, replace, showFormError, clearErrors, setFieldErrors };
