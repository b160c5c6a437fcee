// Checks done in the browser before anything is sent. The server checks the
// same rules again; these only spare the user a round trip.

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";

const CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

// The rules of common/identity.py and common/person.py, ported one for one:
// tests/vectors/person_validation.json holds the cases both must judge alike
// (tests/unit/test_validation_vectors.py runs them against the Python,
// tests/browser/test_validation_vectors.py against this file in Chromium).

// Characters that copy-paste brings along unseen (zero-width, BOM).
const INVISIBLE = /[\u200b\u200c\u200d\u2060\ufeff]/g;
// Whitespace as Python's str.split() sees it.
const WHITESPACE = /[\s\u001c-\u001f\u0085]+/gu;

function textOf(raw) {
  return String(raw ?? "").replace(INVISIBLE, "").replace(/^[\s\u001c-\u001f\u0085]+|[\s\u001c-\u001f\u0085]+$/gu, "");
}

// Length in characters (code points), as Python counts it.
function chars(text) {
  return [...text].length;
}

// Strip spaces and invisible characters, full-width characters to ASCII,
// lowercase to uppercase (common/identity.py _clean).
export function normalizeCertNo(raw) {
  return String(raw ?? "")
    .replace(INVISIBLE, "")
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(WHITESPACE, "")
    .toUpperCase();
}

export function idCheckCharacter(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(first17[i]) * ID_WEIGHTS[i];
  return ID_CHECK[sum % 11];
}

function realDate(y, m, d) {
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

function localToday() {
  const n = new Date();
  return `${n.getFullYear()}${String(n.getMonth() + 1).padStart(2, "0")}${String(n.getDate()).padStart(2, "0")}`;
}

const PERMIT_PREFIXES = ["81", "82", "83"];

// The rules shared by 居民身份证 and 港澳台居民居住证 (same structure).
function checkIdLike(value, noun) {
  if (value.length !== 18) return { ok: false, value, reason: `${noun}应为18位（15位旧号码会自动升位）` };
  if (!/^\d{17}[\dX]$/.test(value)) return { ok: false, value, reason: `${noun}前17位应为数字，最后一位为数字或X` };
  const y = Number(value.slice(6, 10));
  const m = Number(value.slice(10, 12));
  const d = Number(value.slice(12, 14));
  if (y < 1900 || !realDate(y, m, d)) return { ok: false, value, reason: `${noun}中的出生日期不正确` };
  if (value.slice(6, 14) > localToday()) return { ok: false, value, reason: `${noun}中的出生日期晚于今天` };
  if (value[17] !== idCheckCharacter(value.slice(0, 17))) return { ok: false, value, reason: `${noun}校验位不正确，请核对` };
  return {
    ok: true,
    value,
    gender: Number(value[16]) % 2 === 1 ? "1" : "2",
    birthDate: `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`,
  };
}

// 居民身份证 (GB 11643-1999). Returns {ok, value, reason, gender, birthDate}.
export function checkResidentId(raw) {
  let value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入证件号码" };
  if (/^\d{15}$/.test(value)) {
    const first17 = `${value.slice(0, 6)}19${value.slice(6)}`;
    value = first17 + idCheckCharacter(first17);
  }
  if (value.length === 18 && PERMIT_PREFIXES.includes(value.slice(0, 2))) {
    return { ok: false, value, reason: "该号码为港澳台居民居住证号码，请将证件类型选为港澳台居民居住证" };
  }
  return checkIdLike(value, "居民身份证号码");
}

// 港澳台居民居住证: numbered like an ID card, from region 81, 82 or 83.
export function checkResidencePermit(raw) {
  const value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入证件号码" };
  if (!PERMIT_PREFIXES.includes(value.slice(0, 2))) {
    return { ok: false, value, reason: "港澳台居民居住证号码应为18位，以81、82或83开头" };
  }
  return checkIdLike(value, "居住证号码");
}

const CERT_NO_MAX = 30;
// Shapes of the other certificate types (common/identity.py _SHAPES).
const SHAPES = {
  "02": [/^[0-9A-Z\u4e00-\u9fff()\-]{1,30}$/u, "军官证号码只能包含汉字、字母和数字，最多30位"],
  "03": [/^[0-9A-Z\u4e00-\u9fff()\-]{1,30}$/u, "警官证号码只能包含汉字、字母和数字，最多30位"],
  "04": [/^[HM]\d{8}(\d{2})?$/u, "港澳居民来往内地通行证号码应为H或M开头加8位或10位数字"],
  "05": [/^[HM]\d{8}(\d{2})?$/u, "港澳居民来往内地通行证号码应为H或M开头加8位或10位数字"],
  "06": [/^\d{8}(\d{2})?$/u, "台湾居民来往大陆通行证号码应为8位或10位数字"],
  "07": [/^[0-9A-Z]{8,18}$/u, "外国人永久居留证号码应为8至18位字母或数字"],
  "08": [/^[0-9A-Z]{5,17}$/u, "护照号码应为5至17位字母或数字"],
  "16": [/^[0-9A-Z]{5,17}$/u, "护照号码应为5至17位字母或数字"],
  "99": [/^\S{1,30}$/u, "证件号码最多30位"],
};

export function checkCertNo(certType, raw) {
  if (certType === "01") return checkResidentId(raw);
  if (certType === "17") return checkResidencePermit(raw);
  const value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入证件号码" };
  const shape = SHAPES[certType];
  if (!shape) return { ok: false, value, reason: "证件类型不正确，请选择证件类型" };
  if (chars(value) > CERT_NO_MAX) return { ok: false, value, reason: `证件号码不能超过${CERT_NO_MAX}位` };
  if (!shape[0].test(value)) return { ok: false, value, reason: shape[1] };
  return { ok: true, value };
}

// 统一社会信用代码 (GB 32100-2015). Returns {ok, value, reason}.
export function creditCheckCharacter(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += CREDIT_ALPHABET.indexOf(first17[i]) * CREDIT_WEIGHTS[i];
  const v = 31 - (sum % 31);
  return CREDIT_ALPHABET[v === 31 ? 0 : v];
}

export function checkCreditCode(raw) {
  const value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入统一社会信用代码" };
  const bad = [...value].find((c) => !CREDIT_ALPHABET.includes(c));
  if (bad) return { ok: false, value, reason: `统一社会信用代码含有不允许的字符：${bad}` };
  if (value.length !== 18) return { ok: false, value, reason: `统一社会信用代码应为18位（已输入${value.length}位）` };
  if (creditCheckCharacter(value.slice(0, 17)) !== value[17]) {
    return { ok: false, value, reason: "统一社会信用代码校验位不正确，请核对" };
  }
  return { ok: true, value };
}

const DASHES = /[—–‐‑−]/g;
const MOBILE = /^1[3-9]\d{9}$/;
// Area codes: 010 and 02x have three digits, all others four; the local
// number has 7 or 8 digits and does not begin with 0 or 1.
const LANDLINE = /^\(?(0(?:10|2\d|[3-9]\d{2}))\)?-?([2-9]\d{6,7})(?:-(\d{1,6}))?$/;

// A mobile number as 11 digits, a landline as 0595-22345678 (common/person.py clean_phone).
export function checkPhone(raw) {
  const text = textOf(raw).normalize("NFKC").replace(DASHES, "-").replace(WHITESPACE, "");
  if (!text) return { ok: false, value: text, reason: "请输入联系电话" };
  const mobile = text.replace(/-/g, "").replace(/^(\+?86)(?=1\d{10}$)/, "");
  if (MOBILE.test(mobile)) return { ok: true, value: mobile };
  const m = LANDLINE.exec(text.replace(/转/g, "-"));
  if (m) return { ok: true, value: `${m[1]}-${m[2]}${m[3] ? `-${m[3]}` : ""}` };
  return { ok: false, value: text, reason: "联系电话应为11位手机号码或带区号的固定电话（如0595-22345678）" };
}

const NAME_MAX = 50;
// Dots people type inside minority and foreign names; the register keeps U+00B7.
const NAME_DOTS = /[•・･‧∙⋅]/g;

// common/person.py clean_name: letters of any script (汉字 and others), 〇,
// the middle dot · (not at either end) and single spaces.
export function checkName(raw) {
  const value = textOf(raw)
    .replace(/[\uFF21-\uFF3A\uFF41-\uFF5A]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .split(WHITESPACE).filter(Boolean).join(" ")
    .replace(NAME_DOTS, "·")
    .replace(/ ?· ?/g, "·");
  if (!value) return { ok: false, value, reason: "请输入姓名" };
  if (chars(value) > NAME_MAX) return { ok: false, value, reason: `姓名不能超过${NAME_MAX}个字` };
  const bad = [...value].find((c) => !/^[\p{L}·〇 ]$/u.test(c));
  if (bad) return { ok: false, value, reason: `姓名只能包含汉字、字母、·和空格，不能含有“${bad}”` };
  if (value.startsWith("·") || value.endsWith("·")) return { ok: false, value, reason: "姓名中的·不能在开头或结尾" };
  return { ok: true, value };
}

export function ageOn(birthDate, on = new Date()) {
  const [y, m, d] = birthDate.split("-").map(Number);
  let age = on.getFullYear() - y;
  if (on.getMonth() + 1 < m || (on.getMonth() + 1 === m && on.getDate() < d)) age -= 1;
  return age;
}

// 人员类别 age rules (common/codes.py CATEGORY_AGE_RULES): 11 成年居民 from 18,
// 12 老年居民 from 60, 13 未成年居民 under 18.
export function checkCategoryAge(category, birthDate) {
  if (!birthDate || !/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) return null;
  const age = ageOn(birthDate);
  if (category === "11" && age < 18) return `成年居民应年满18周岁（按出生日期为${age}岁）`;
  if (category === "12" && age < 60) return `老年居民应年满60周岁（按出生日期为${age}岁）`;
  if (category === "13" && age >= 18) return `未成年居民应未满18周岁（按出生日期为${age}岁）`;
  return null;
}
