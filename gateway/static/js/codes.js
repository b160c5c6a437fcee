// The code tables of docs/domain.md ("Code tables"), in one place for every screen. When the
// platform serves its tables (GET /api/codes) they replace these in place.
import { api } from "./api.js";

export const CERT_TYPES = [
  ["01", "居民身份证（户口簿）"],
  ["02", "中国人民解放军军官证"],
  ["03", "中国人民武装警察警官证"],
  ["04", "香港特区护照/港澳居民来往内地通行证"],
  ["05", "澳门特区护照/港澳居民来往内地通行证"],
  ["06", "台湾居民来往大陆通行证"],
  ["07", "外国人永久居留证"],
  ["08", "外国人护照"],
  ["16", "中国护照"],
  ["17", "港澳台居民居住证"],
  ["99", "其他身份证件"],
];

export const GENDERS = [
  ["1", "男"],
  ["2", "女"],
];

export const NATIONS = [
  ["01", "汉"], ["02", "蒙古"], ["03", "回"], ["04", "藏"], ["05", "维吾尔"], ["06", "苗"],
  ["07", "彝"], ["08", "壮"], ["09", "布依"], ["10", "朝鲜"], ["11", "满"], ["12", "侗"],
  ["13", "瑶"], ["14", "白"], ["15", "土家"], ["16", "哈尼"], ["17", "哈萨克"], ["18", "傣"],
  ["19", "黎"], ["20", "傈僳"], ["21", "佤"], ["22", "畲"], ["23", "高山"], ["24", "拉祜"],
  ["25", "水"], ["26", "东乡"], ["27", "纳西"], ["28", "景颇"], ["29", "柯尔克孜"], ["30", "土"],
  ["31", "达斡尔"], ["32", "仫佬"], ["33", "羌"], ["34", "布朗"], ["35", "撒拉"], ["36", "毛南"],
  ["37", "仡佬"], ["38", "锡伯"], ["39", "阿昌"], ["40", "普米"], ["41", "塔吉克"], ["42", "怒"],
  ["43", "乌孜别克"], ["44", "俄罗斯"], ["45", "鄂温克"], ["46", "德昂"], ["47", "保安"],
  ["48", "裕固"], ["49", "京"], ["50", "塔塔尔"], ["51", "独龙"], ["52", "鄂伦春"], ["53", "赫哲"],
  ["54", "门巴"], ["55", "珞巴"], ["56", "基诺"], ["97", "其他"], ["98", "外国血统中国籍人士"],
];

export const CATEGORIES = [
  ["11", "成年居民"],
  ["12", "老年居民"],
  ["13", "未成年居民"],
  ["14", "在校大中专学生"],
  ["21", "低保对象"],
  ["22", "特困人员"],
  ["23", "重度残疾人"],
  ["24", "低收入人口"],
  ["25", "防返贫监测对象"],
  ["99", "其他"],
];

export const SUSPEND_REASONS = [
  ["01", "死亡"],
  ["02", "参加职工基本医疗保险"],
  ["03", "迁出本统筹区"],
  ["04", "重复参保"],
  ["05", "参军入伍"],
  ["06", "出国（境）定居"],
  ["99", "其他"],
];

export const BUSINESS_TYPES = [
  ["enrolment", "城乡居民参保"],
  ["suspension", "城乡居民暂停参保"],
  ["change", "城乡居民变更"],
];

export const BATCH_TYPES = [
  ["enrolment", "批量城乡居民参保"],
  ["suspension", "批量城乡居民暂停参保"],
];

export const ACTIONS = {
  new_enrolment: "新参保",
  transfer_in: "调入",
  resume: "恢复参保",
};

export const STATUSES = [
  ["active", "正常参保"],
  ["suspended", "暂停参保"],
];

const TABLES = {
  cert_type: CERT_TYPES, cert_types: CERT_TYPES,
  gender: GENDERS, genders: GENDERS,
  nation: NATIONS, nations: NATIONS,
  category: CATEGORIES, categories: CATEGORIES,
  suspend_reason: SUSPEND_REASONS, suspend_reasons: SUSPEND_REASONS, suspension_reasons: SUSPEND_REASONS,
  reason: SUSPEND_REASONS, reasons: SUSPEND_REASONS,
  status: STATUSES, statuses: STATUSES,
  business_type: BUSINESS_TYPES, business_types: BUSINESS_TYPES,
};

// The label of `code` in `table` ([code, label] pairs), or the code itself.
export function label(table, code) {
  if (code == null || code === "") return "";
  const row = table.find(([c]) => c === String(code));
  return row ? row[1] : String(code);
}

export function codeAndLabel(table, code) {
  if (code == null || code === "") return "";
  const row = table.find(([c]) => c === String(code));
  return row ? `${row[0]} ${row[1]}` : String(code);
}

export function lookupMap(pairs) {
  return Object.fromEntries(pairs);
}

function asPairs(value) {
  if (Array.isArray(value)) {
    return value.map((x) => (Array.isArray(x) ? [String(x[0]), String(x[1])]
      : [String(x.code ?? x.value), String(x.label ?? x.name ?? x.text)]));
  }
  if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => [k, String(v)]);
  return null;
}

let loaded = null;
// Prefer the platform's own tables where it serves them.
export function loadCodes() {
  if (!loaded) {
    loaded = api("GET", "/api/codes").then((data) => {
      for (const [name, value] of Object.entries(data || {})) {
        const target = TABLES[name];
        const pairs = asPairs(value);
        if (target && pairs && pairs.length) target.splice(0, target.length, ...pairs);
        if ((name === "actions" || name === "action") && pairs && pairs.length) Object.assign(ACTIONS, Object.fromEntries(pairs));
      }
    }).catch(() => { /* keep the built-in tables */ });
  }
  return loaded;
}
