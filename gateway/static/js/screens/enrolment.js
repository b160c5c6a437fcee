// 增员减员申报 → 城乡居民参保: 查询 tells a new enrolment, a transfer-in, a
// resume or a refusal; then the form; 保存 shows the outcome.
import { ACTIONS } from "../codes.js";
import {
  LOOKUP_TEXT, banner, checkPerson, clearErrors, declaredAt, loadCodes, lookupForm, outcomePanel, personForm,
  personValues, recordsLink, setFieldErrors, setStep, showFormError, steps, submitter,
} from "../declare.js";
import { clear, h } from "../dom.js";
import { checkCertNo } from "../validate.js";

const ACTION_TEXT = {
  new_enrolment: "可办理新参保",
  transfer_in: "保存后将调入本单位参保",
  resume: "可办理恢复参保",
};

export async function render(root, ctx) {
  await loadCodes();
  const progress = steps(["查询人员", "填写参保信息", "办理结果"], 0);
  const resultBox = h("div");
  const formBox = h("div");
  const lookup = lookupForm({ onResult: showForm, initial: ctx.query });
  lookup.onReset = () => { clear(resultBox); clear(formBox); setStep(progress, 0); };
  root.append(progress, h("section", { class: "card", "aria-label": "查询人员" },
    h("div", { class: "card-head" }, h("h2", null, "查询人员"),
      h("span", { class: "muted" }, "先查询人员的参保状态，再填写参保信息")),
    lookup.form, resultBox), formBox);

  function showForm({ query, result }) {
    clear(formBox);
    const action = result.action;
    const statusText = LOOKUP_TEXT[result.status] || "";
    if (!action) {
      resultBox.replaceChildren(banner("error", result.message || `${statusText}，不能办理参保`, " ",
        h("a", { href: "#/roster" }, "查看人员列表")));
      return;
    }
    const note = result.message || `${statusText}，${ACTION_TEXT[action] || ""}`;
    resultBox.replaceChildren(banner(action === "new_enrolment" ? "info" : "warn",
      h("strong", null, `办理类型：${ACTIONS[action] || action}。`), note));
    setStep(progress, 1);
    const derived = checkCertNo(query.cert_type, query.cert_no);
    const { inputs, fields, fromId } = personForm({
      certType: query.cert_type, certNo: query.cert_no, derived, person: result.person,
    });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "保存");
    const form = h("form", { class: "card", novalidate: true, "aria-label": "参保信息" },
      h("div", { class: "card-head" }, h("h2", null, "参保信息"), h("span", { class: "muted" }, "带 * 的为必填项")),
      h("div", { class: "form-grid" },
        h("div", { class: "field" }, h("label", null, "姓名"), h("input", { type: "text", readOnly: true, value: query.name, "aria-label": "姓名" })),
        fields),
      h("div", { class: "actions" }, save, recordsLink(query.cert_no)));
    const send = submitter("/api/declarations/enrolment");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const v = personValues(inputs);
      const errors = checkPerson(v, { fromId });
      if (Object.keys(errors).length) {
        setFieldErrors(form, errors);
        return;
      }
      const body = { cert_type: query.cert_type, cert_no: query.cert_no, name: query.name };
      for (const k of ["nation", "category", "phone", "hukou_address", "address", "remark"]) if (v[k]) body[k] = v[k];
      if (!fromId) { body.gender = v.gender; body.birth_date = v.birth_date; }
      save.disabled = true;
      save.textContent = "保存中…";
      try {
        const r = await send.send(body);
        setStep(progress, 2);
        formBox.replaceChildren(outcomePanel({
          title: `办理成功：${ACTIONS[r.action] || "参保"}`,
          lines: [["姓名", query.name], ["证件号码", query.cert_no], ["办理类型", ACTIONS[r.action] || r.action],
            ["申报时间", declaredAt(r)], ["记录编号", r.record_id]],
          actions: [recordsLink(query.cert_no), h("button", { type: "button", class: "btn btn-primary", onclick: () => lookup.clearAll() }, "继续办理")],
        }));
      } catch (err) {
        showFormError(form, err);
      } finally {
        save.disabled = false;
        save.textContent = "保存";
      }
    });
    formBox.append(form);
    (fromId ? inputs.nation : inputs.gender).focus();
  }
}
