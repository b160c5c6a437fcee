// 增员减员申报 → 城乡居民变更: 查询 a person of this unit, edit the personal
// data (not the 证件号码), 保存 shows before and after.
import {
  banner, checkPerson, clearErrors, declaredAt, loadCodes, lookupForm, outcomePanel, personForm, personValues,
  recordsLink, setFieldErrors, setStep, showFormError, steps, submitter,
} from "../declare.js";
import { clear, h } from "../dom.js";
import { changeTable } from "../people.js";
import { checkCertNo } from "../validate.js";

const EDITABLE = ["name", "gender", "birth_date", "nation", "category", "phone", "hukou_address", "address", "remark"];

export async function render(root, ctx) {
  await loadCodes();
  const progress = steps(["查询人员", "修改个人信息", "办理结果"], 0);
  const resultBox = h("div");
  const formBox = h("div");
  const lookup = lookupForm({ onResult: showForm, initial: ctx.query });
  lookup.onReset = () => { clear(resultBox); clear(formBox); setStep(progress, 0); };
  root.append(progress, h("section", { class: "card", "aria-label": "查询人员" },
    h("div", { class: "card-head" }, h("h2", null, "查询人员"), h("span", { class: "muted" }, "可变更本单位参保或暂停参保人员的个人信息，证件号码不可变更")),
    lookup.form, resultBox), formBox);

  function showForm({ query, result }) {
    clear(formBox);
    if (!["active_here", "suspended_here"].includes(result.status)) {
      resultBox.replaceChildren(banner("error", "该人员不属于本单位，不能办理变更", result.message ? `（${result.message}）` : ""));
      return;
    }
    if (!result.person) {
      resultBox.replaceChildren(banner("error", result.message || "姓名与证件号码登记的信息不一致，请核对后重新查询"));
      return;
    }
    resultBox.replaceChildren(banner("info", `该人员${result.status === "active_here" ? "在本单位正常参保" : "在本单位暂停参保"}，请修改需要变更的信息后保存`));
    setStep(progress, 1);
    const person = { ...result.person };
    const derived = checkCertNo(query.cert_type, query.cert_no);
    const { inputs, fields, fromId } = personForm({
      certType: query.cert_type, certNo: query.cert_no, derived, person, withName: true,
    });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "保存");
    const form = h("form", { class: "card", novalidate: true, "aria-label": "个人信息" },
      h("div", { class: "card-head" }, h("h2", null, "个人信息"), h("span", { class: "muted" }, "只提交有改动的项目")),
      h("div", { class: "form-grid" }, fields),
      h("div", { class: "actions" }, save, recordsLink(query.cert_no)));
    const send = submitter("/api/declarations/change");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const v = personValues(inputs);
      const errors = checkPerson(v, { fromId, requireAll: false });
      if (!v.category) errors.category = ["请选择人员类别"];
      if (Object.keys(errors).length) {
        setFieldErrors(form, errors);
        return;
      }
      const changes = {};
      for (const k of EDITABLE) {
        if (fromId && (k === "gender" || k === "birth_date")) continue;
        if ((v[k] || "") !== String(person[k] ?? "")) changes[k] = v[k];
      }
      if (!Object.keys(changes).length) {
        showFormError(form, { message: "没有修改任何信息" });
        return;
      }
      save.disabled = true;
      try {
        const r = await send.send({ cert_type: query.cert_type, cert_no: query.cert_no, name: query.name, changes });
        setStep(progress, 2);
        const before = r.before || Object.fromEntries(Object.keys(changes).map((k) => [k, person[k]]));
        const after = r.after || changes;
        formBox.replaceChildren(outcomePanel({
          title: "办理成功：信息已变更",
          lines: [["姓名", changes.name || query.name], ["证件号码", query.cert_no], ["申报时间", declaredAt(r)], ["记录编号", r.record_id]],
          actions: [recordsLink(query.cert_no), h("button", { type: "button", class: "btn btn-primary", onclick: () => lookup.clearAll() }, "继续办理")],
        }));
        formBox.firstChild.insertBefore(h("div", null, h("h3", { class: "sub-title" }, "变更内容"), changeTable(before, after)), formBox.firstChild.querySelector(".actions"));
      } catch (err) {
        showFormError(form, err);
      } finally {
        save.disabled = false;
      }
    });
    formBox.append(form);
    inputs.phone.focus();
  }
}
