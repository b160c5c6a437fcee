// 批量城乡居民参保 / 批量城乡居民暂停参保: 【下载模板】; 【导入模板并提交】 with
// upload progress, then the batch followed through its phases (排队 → 读取 →
// 逐行办理 → 完成) with a progress bar and counts while a batch worker handles
// it; a dialog of the results with each failure's reason, 【下载失败数据】,
// 【查看记录】, 【关闭】; the past submissions below.
import { download, get, newKey, upload } from "../api.js";
import { batchList, batchSummary, downloadFailures, failuresTable } from "../batch-list.js";
import { clearErrors, field, h, modal, showFormError, toast } from "../dom.js";

const MAX_BYTES = 10 * 1024 * 1024;
const COLUMNS = {
  enrolment: "证件类型*、证件号码*、姓名*、性别、出生日期、民族、人员类别*、联系电话*、户籍地址、居住地址、备注",
  suspension: "证件类型*、证件号码*、姓名*、暂停原因*、备注",
};
const NAMES = { enrolment: "城乡居民参保", suspension: "城乡居民暂停参保" };

export function render(root, ctx) {
  const type = ctx.props.type;
  const templateBtn = h("button", { type: "button", class: "btn" }, "下载模板");
  templateBtn.addEventListener("click", async () => {
    templateBtn.disabled = true;
    try {
      await download("/api/batches/template", { business_type: type }, `${NAMES[type]}导入模板.xlsx`);
    } catch (err) {
      toast(err.message, "error");
    } finally {
      templateBtn.disabled = false;
    }
  });

  const file = h("input", { type: "file", accept: ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "导入模板并提交");
  const bar = h("div", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "aria-label": "上传进度" });
  const progressText = h("div", { class: "progress-text", "aria-live": "polite" });
  const progress = h("div", { class: "upload-progress", hidden: true }, h("div", { class: "progress" }, bar), progressText);
  const form = h("form", { novalidate: true, "aria-label": "导入模板并提交" },
    h("div", { class: "file-pick" },
      field({ label: "选择填写好的模板文件（.xlsx，不超过10MB）", name: "file", input: file, required: true }),
      h("div", { class: "actions", style: "margin:0" }, submit)),
    progress);
  const history = batchList({ type });

  const setBar = (pct, text, label) => {
    bar.style.width = `${pct}%`;
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-label", label);
    progressText.textContent = text;
  };
  const setProgress = (fraction, phase) => {
    const pct = Math.round(fraction * 100);
    setBar(pct, phase === "processing" ? "上传完成，等待登记批次…" : `正在上传 ${pct}%`, "上传进度");
  };
  // The batch's own progress, as the worker reports it.
  const showBatch = (b) => {
    const p = b.progress || {};
    if (b.status === "queued") {
      setBar(0, `批次 ${b.batch_no} 已接收，正在排队等待处理…`, "处理进度");
    } else if (b.status === "reading") {
      setBar(5, `批次 ${b.batch_no}：正在读取文件…`, "处理进度");
    } else if (b.status === "deciding") {
      const total = p.total || 0;
      const pct = total ? Math.round((p.rows_decided / total) * 100) : 0;
      setBar(Math.max(pct, 5), `批次 ${b.batch_no}：正在逐行校验并提交，已办理 ${p.rows_decided} / ${total} 条`, "处理进度");
    }
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const f = file.files[0];
    if (!f) {
      showFormError(form, { message: "请先选择要导入的文件", details: { file: ["请选择文件"] } });
      return;
    }
    if (!/\.xlsx$/i.test(f.name)) {
      showFormError(form, { message: "请使用下载的模板（.xlsx 格式）填写后导入", details: { file: ["只支持 .xlsx 文件"] } });
      return;
    }
    if (f.size > MAX_BYTES) {
      showFormError(form, { message: "文件超过10MB，请分批导入", details: { file: ["文件过大"] } });
      return;
    }
    submit.disabled = true;
    file.disabled = true;
    progress.hidden = false;
    setProgress(0, "upload");
    try {
      const received = await upload("/api/batches", { business_type: type }, f, { onProgress: setProgress, idempotencyKey: newKey() });
      file.value = "";
      history.reload();
      const result = await follow(received, showBatch);
      if (result.status === "failed") {
        progress.hidden = true;
        history.reload();
        showFormError(form, { message: result.message, details: { file: [result.message] } });
        return;
      }
      setBar(100, "导入完成", "处理进度");
      showResult(result, ctx, history);
    } catch (err) {
      progress.hidden = true;
      showFormError(form, err);
    } finally {
      submit.disabled = false;
      file.disabled = false;
    }
  });

  root.append(
    h("section", { class: "card", "aria-labelledby": "batch-step1" },
      h("div", { class: "card-head" }, h("h2", { id: "batch-step1" }, "第一步：下载模板"), templateBtn),
      h("p", { class: "muted", style: "margin:0" }, `模板列：${COLUMNS[type]}。带 * 的列必须填写；证件号码请保持文本格式，`,
        "不要修改表头、删除列或合并单元格。同一人员在一个文件中只能出现一次。")),
    h("section", { class: "card", "aria-labelledby": "batch-step2" },
      h("div", { class: "card-head" }, h("h2", { id: "batch-step2" }, "第二步：导入模板并提交")),
      form),
    h("section", { class: "card", "aria-labelledby": "batch-history" },
      h("div", { class: "card-head" }, h("h2", { id: "batch-history" }, "批量提交记录")),
      history.el));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Poll the batch until a worker has finished it (done or failed).
async function follow(b, onChange) {
  let delay = 500;
  while (b.status && b.status !== "done" && b.status !== "failed") {
    onChange(b);
    await sleep(delay);
    delay = Math.min(delay + 250, 2000);
    b = { ...(await get(`/api/batches/${encodeURIComponent(b.batch_no)}`)), duplicate: b.duplicate };
  }
  return b;
}

function showResult(b, ctx, history) {
  history.reload();
  const ok = !b.failed;
  const dl = h("button", { type: "button", class: "btn" }, "下载失败数据");
  dl.addEventListener("click", () => downloadFailures(b.batch_no, dl));
  const m = modal({
    title: "导入结果",
    wide: true,
    content: [
      b.duplicate ? h("div", { class: "alert alert-info" }, "该文件此前已导入过，以下是首次导入的结果，本次没有重复申报。") : null,
      h("div", { class: `alert ${ok ? "alert-success" : "alert-warn"}`, role: "status" },
        `共 ${b.total} 条，提交成功 ${b.succeeded} 条，提交失败 ${b.failed} 条。`,
        ok ? "" : "失败的数据可下载后按“失败原因”修改，再次导入。"),
      batchSummary(b),
      b.failed ? [h("h3", { class: "sub-title" }, "失败数据"), failuresTable(b.failures || [])] : null,
    ],
    actions: [
      { text: "查看记录", onClick: (close) => { close(); ctx.navigate(`/batches?batch_no=${encodeURIComponent(b.batch_no)}`); } },
      { text: "关闭", primary: true },
    ],
  });
  if (b.failed) m.footer.prepend(dl);
}
