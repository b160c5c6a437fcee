// The HTTP client of the portal: bearer token from sessionStorage, errors of
// the shape {error, message, details}, downloads and uploads with progress.
import { busy, h } from "./dom.js";

const KEY = "edt.session";

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY));
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  token() {
    const s = this.get();
    return s ? s.token : null;
  },
};

const STATUS_MESSAGES = {
  0: "无法连接服务器，请检查网络后重试",
  400: "填写的内容有误，请检查",
  401: "请先登录",
  403: "无权进行此操作",
  404: "请求的内容不存在",
  409: "业务规则不允许此操作",
  413: "上传的文件过大",
  415: "不支持的文件类型",
  423: "账号已锁定",
  429: "操作过于频繁，请稍后再试",
  503: "服务暂时不可用，请稍后再试",
};

export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === "object" ? body : {};
    super(b.message || STATUS_MESSAGES[status] || "系统繁忙，请稍后再试");
    this.status = status;
    this.body = b;
    this.code = b.error || null;
    this.details = b.details && typeof b.details === "object" ? b.details : {};
  }

  // The route itself is missing: that part of the platform is not deployed yet.
  get notAvailable() {
    return (this.status === 404 || this.status === 405) && !this.body.details?.id && this.body.message === "请求的内容不存在";
  }
}

let unauthorizedHandler = () => {};
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export function newKey() {
  if (window.crypto && crypto.randomUUID && window.isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export function url(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, v);
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function authHeaders(extra) {
  const headers = { Accept: "application/json", ...(extra || {}) };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

async function readBody(resp) {
  const text = await resp.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: STATUS_MESSAGES[resp.status] };
  }
}

function fail(status, body, hadToken) {
  const err = new ApiError(status, body);
  if (status === 401 && hadToken) unauthorizedHandler(err);
  return err;
}

export async function api(method, path, { query, body, idempotencyKey } = {}) {
  const headers = authHeaders(idempotencyKey ? { "Idempotency-Key": idempotencyKey } : null);
  const hadToken = Boolean(headers.Authorization);
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  busy(1);
  try {
    let resp;
    try {
      resp = await fetch(url(path, query), init);
    } catch {
      throw new ApiError(0, null);
    }
    const data = await readBody(resp);
    if (!resp.ok) throw fail(resp.status, data, hadToken);
    return data;
  } finally {
    busy(-1);
  }
}

export const get = (path, query) => api("GET", path, { query });

function filenameOf(resp, fallback) {
  const cd = resp.headers.get("Content-Disposition") || "";
  const star = /filename\*\s*=\s*(?:UTF-8'')?([^;]+)/i.exec(cd);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch { /* fall through */ }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(cd);
  return plain ? plain[1] : fallback;
}

// Fetch a file with the token and hand it to the browser as a download.
export async function download(path, query, fallbackName) {
  const headers = authHeaders({ Accept: "*/*" });
  busy(1);
  try {
    let resp;
    try {
      resp = await fetch(url(path, query), { headers });
    } catch {
      throw new ApiError(0, null);
    }
    if (!resp.ok) throw fail(resp.status, await readBody(resp), Boolean(headers.Authorization));
    const blob = await resp.blob();
    const name = filenameOf(resp, fallbackName);
    const href = URL.createObjectURL(blob);
    const a = h("a", { href, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
    return name;
  } finally {
    busy(-1);
  }
}

// Multipart upload through XMLHttpRequest, for its upload progress events.
// onProgress(fraction 0..1, phase "upload" | "processing").
export function upload(path, query, file, { field = "file", onProgress, idempotencyKey } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path, query));
    const headers = authHeaders(idempotencyKey ? { "Idempotency-Key": idempotencyKey } : null);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total, "upload");
      });
      xhr.upload.addEventListener("load", () => onProgress(1, "processing"));
    }
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(fail(xhr.status, data, Boolean(headers.Authorization)));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, null)));
    xhr.addEventListener("loadend", () => busy(-1));
    const form = new FormData();
    form.append(field, file, file.name);
    busy(1);
    xhr.send(form);
  });
}
