// 增员减员申报 → 城乡居民暂停参保: 查询 the person, choose the reason, confirm,
// 保存. Only a person active in this unit can be suspended.
import { SUSPEND_REASONS, label } from "../codes.js";
import {
  LOOKUP_TEXT, banner, clearErrors, declaredAt, loadCodes, lookupForm, outcomePanel, recordsLink, setFieldErrors,
  setStep, showFormError, steps, submitter,
} from "../declare.js";
import { clear, confirmDialog, field, h, select } from "../dom.js";
import { detailList } from "../people.js";

const SHOWN = ["name", "cert_type", "cert_no", "gender", "birth_date", "category", "phone", "address", "status", "since"];

export async function render(root, ctx) {
  await loadCodes();
  const progress = steps(["查询人员", "填写暂停原因", "办理结果"], 0);
  const resultBox = h("div");
  const formBox = h("div");
  const lookup = lookupForm({ onResult: showForm, initial: ctx.query });
  lookup.onReset = () => { clear(resultBox); clear(formBox); setStep(progress, 0); };
  root.append(progress, h("section", { class: "card", "aria-label": "查询人员" },
    h("div", { class: "card-head" }, h("h2", null, "查询人员"), h("span", { class: "muted" }, "只能暂停本单位正常参保的人员")),
    lookup.form, resultBox), formBox);

  function showForm({ query, result }) {
    clear(formBox);
    if (result.status !== "active_here") {
      const why = result.status === "suspended_here" ? "该人员已暂停参保，无需重复办理" : "该人员未在本单位参保，不能办理暂停参保";
      resultBox.replaceChildren(banner("error", why));
      return;
    }
    if (result.name_matches === false) {
      resultBox.replaceChildren(banner("error", "所填姓名与平台登记的不一致，请核对后重新查询"));
      return;
    }
    resultBox.replaceChildren(banner("info", `${LOOKUP_TEXT.active_here}，可办理暂停参保`));
    setStep(progress, 1);
    const reason = select(SUSPEND_REASONS, { placeholder: "请选择" });
    const remark = h("textarea", { rows: "2", maxlength: "500" });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "保存");
    const remarkField = field({ label: "备注", name: "remark", input: remark, wide: true, hint: "暂停原因为“其他”时必须填写备注" });
    reason.addEventListener("change", () => {
      remarkField.querySelector("label").replaceChildren(
        ...(reason.value === "99" ? [h("span", { class: "req", "aria-hidden": "true" }, "*")] : []), "备注");
    });
    const person = result.person || { cert_type: query.cert_type, cert_no: query.cert_no, name: query.name };
    const form = h("form", { class: "card", novalidate: true, "aria-label": "暂停参保信息" },
      h("div", { class: "card-head" }, h("h2", null, "暂停参保信息"), h("span", { class: "muted" }, "带 * 的为必填项")),
      detailList(Object.fromEntries(SHOWN.map((k) => [k, k === "status" ? "active" : person[k]])), SHOWN),
      h("div", { class: "form-grid", style: "margin-top:12px" },
        field({ label: "暂停原因", name: "reason", input: reason, required: true }), remarkField),
      h("div", { class: "actions" }, save, recordsLink(query.cert_no)));
    const send = submitter("/api/declarations/suspension");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(form);
      const errors = {};
      if (!reason.value) errors.reason = ["请选择暂停原因"];
      if (reason.value === "99" && !remark.value.trim()) errors.remark = ["暂停原因为“其他”时请填写备注"];
      if (Object.keys(errors).length) {
        setFieldErrors(form, errors);
        return;
      }
      const ok = await confirmDialog({
        title: "确认暂停参保",
        message: `确定暂停 ${query.name}（${query.cert_no}）的城乡居民参保吗？\n暂停原因：${label(SUSPEND_REASONS, reason.value)}\n暂停后该人员将从本单位参保人数中减少。`,
        okText: "确定暂停", danger: true,
      });
      if (!ok) return;
      save.disabled = true;
      try {
        const body = { cert_type: query.cert_type, cert_no: query.cert_no, name: query.name, reason: reason.value };
        if (remark.value.trim()) body.remark = remark.value.trim();
        const r = await send.send(body);
        setStep(progress, 2);
        formBox.replaceChildren(outcomePanel({
          title: "办理成功：暂停参保",
          lines: [["姓名", query.name], ["证件号码", query.cert_no], ["暂停原因", label(SUSPEND_REASONS, reason.value)],
            ["申报时间", declaredAt(r)], ["记录编号", r.record_id]],
          actions: [recordsLink(query.cert_no), h("button", { type: "button", class: "btn btn-primary", onclick: () => lookup.clearAll() }, "继续办理")],
        }));
      } catch (err) {
        showFormError(form, err);
      } finally {
        save.disabled = false;
      }
    });
    formBox.append(form);
    reason.focus();
  }
}
