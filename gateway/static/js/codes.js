// The code tables of the declarations, taken only from the platform: GET /api/codes
// serves common/codes.py, the one source of truth, so the portal keeps no copy.
// loadCodes() fetches them once per page and fills the tables below in place (the
// arrays and ACTIONS keep their identity, so modules may hold them from import on);
// the shell (app.js) waits for it before it draws any screen that needs a login.
import { api } from "./api.js";

// [code, label] pairs, in the order of the dropdowns; empty until loadCodes() resolves.
export const CERT_TYPES = [];
export const GENDERS = [];
export const NATIONS = [];
export const CATEGORIES = [];
export const SUSPEND_REASONS = [];
export const STATUSES = [];
export const BUSINESS_TYPES = [];
// The business types a batch file may declare, labelled as the batch screens show them.
export const BATCH_TYPES = [];
// action code -> label, e.g. new_enrolment -> its label.
export const ACTIONS = {};
// Quanzhou's county-level divisions of units ([code, name]; 000000 未分区 last).
export const DIVISIONS = [];

const BATCHABLE = ["enrolment", "suspension"];

// The tables of GET /api/codes, by their name there.
const TABLES = {
  cert_types: CERT_TYPES,
  genders: GENDERS,
  nations: NATIONS,
  categories: CATEGORIES,
  suspension_reasons: SUSPEND_REASONS,
  statuses: STATUSES,
  business_types: BUSINESS_TYPES,
  divisions: DIVISIONS,
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

function pairsOf(items, name) {
  if (!Array.isArray(items) || items.length === 0) throw new Error(`代码表${name}为空`);
  return items.map((item) => [String(item.code), String(item.label)]);
}

function fill(data) {
  const tables = data || {};
  const filled = {};
  for (const name of [...Object.keys(TABLES), "actions"]) filled[name] = pairsOf(tables[name], name);
  for (const [name, target] of Object.entries(TABLES)) target.splice(0, target.length, ...filled[name]);
  for (const key of Object.keys(ACTIONS)) delete ACTIONS[key];
  Object.assign(ACTIONS, Object.fromEntries(filled.actions));
  BATCH_TYPES.splice(0, BATCH_TYPES.length, ...BUSINESS_TYPES
    .filter(([code]) => BATCHABLE.includes(code))
    .map(([code, text]) => [code, `批量${text}`]));
}

let loaded = null;

// Fetch the tables once (a public endpoint: no login needed) and keep them for
// the page's lifetime. Resolves when every table is filled; a failure rejects
// and is forgotten, so the next call asks again.
export function loadCodes() {
  if (!loaded) {
    loaded = api("GET", "/api/codes").then(fill).catch((err) => {
      loaded = null;
      throw err;
    });
  }
  return loaded;
}

// Whether the tables are there (loadCodes() resolved).
export function codesLoaded() {
  return CERT_TYPES.length > 0;
}
