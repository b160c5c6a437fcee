// Checks done in the browser before anything is sent. The server checks the
// same rules again; these only spare the user a round trip.

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";

const CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

// Strip spaces, full-width characters to ASCII, lowercase to uppercase.
export function normalizeCertNo(raw) {
  return String(raw || "")
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(/[\s\u3000]+/g, "")
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

// 居民身份证 (GB 11643-1999). Returns {ok, value, reason, gender, birthDate}.
export function checkResidentId(raw) {
  let value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入证件号码" };
  if (/^\d{15}$/.test(value)) {
    const first17 = `${value.slice(0, 6)}19${value.slice(6)}`;
    value = first17 + idCheckCharacter(first17);
  }
  if (value.length !== 18) return { ok: false, value, reason: "居民身份证号码应为18位（15位旧号码会自动升位）" };
  if (!/^\d{17}[\dX]$/.test(value)) return { ok: false, value, reason: "居民身份证号码前17位应为数字，最后一位为数字或X" };
  const y = Number(value.slice(6, 10));
  const m = Number(value.slice(10, 12));
  const d = Number(value.slice(12, 14));
  if (y < 1900 || !realDate(y, m, d)) return { ok: false, value, reason: "居民身份证号码中的出生日期不正确" };
  if (value.slice(6, 14) > localToday()) return { ok: false, value, reason: "居民身份证号码中的出生日期晚于今天" };
  const expected = idCheckCharacter(value.slice(0, 17));
  if (value[17] !== expected) return { ok: false, value, reason: "居民身份证号码校验位不正确，请核对" };
  return {
    ok: true,
    value,
    gender: Number(value[16]) % 2 === 1 ? "1" : "2",
    birthDate: `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`,
  };
}

// Usual shapes of the other certificate types; the server has the last word.
const SHAPES = {
  "04": [/^[HM]\d{8}(\d{2})?$/, "港澳居民来往内地通行证号码应为H或M加8位或10位数字"],
  "05": [/^[HM]\d{8}(\d{2})?$/, "港澳居民来往内地通行证号码应为H或M加8位或10位数字"],
  "06": [/^\d{8}(\d{2})?$/, "台湾居民来往大陆通行证号码应为8位数字"],
  "08": [/^[A-Z0-9]{5,17}$/, "护照号码应为5至17位字母或数字"],
  "16": [/^[A-Z0-9]{5,17}$/, "护照号码应为5至17位字母或数字"],
};

export function checkCertNo(certType, raw) {
  if (certType === "01") return checkResidentId(raw);
  const value = normalizeCertNo(raw);
  if (!value) return { ok: false, value, reason: "请输入证件号码" };
  const shape = SHAPES[certType];
  if (shape && !shape[0].test(value)) return { ok: false, value, reason: shape[1] };
  if (value.length > 30) return { ok: false, value, reason: "证件号码过长" };
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

export function checkPhone(raw) {
  const value = String(raw || "").replace(/[\s\u3000]+/g, "");
  if (!value) return { ok: false, value, reason: "请输入联系电话" };
  if (/^1[3-9]\d{9}$/.test(value)) return { ok: true, value };
  if (/^0\d{2,3}-?\d{7,8}(-\d{1,6})?$/.test(value)) return { ok: true, value };
  return { ok: false, value, reason: "联系电话应为11位手机号码，或带区号的固定电话（如0595-22345678）" };
}

export function checkName(raw) {
  const value = String(raw || "").trim();
  if (!value) return { ok: false, value, reason: "请输入姓名" };
  if (value.length > 50) return { ok: false, value, reason: "姓名不能超过50个字" };
  if (!/^[\p{Script=Han}A-Za-z·•. ]+$/u.test(value)) return { ok: false, value, reason: "姓名只能包含汉字、字母、间隔号·和空格" };
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
