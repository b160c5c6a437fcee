// The portal's shell: hash routes, the top bar, the left menu, and the
// session (token in sessionStorage; a 401 anywhere returns to 登录).
import { api, onUnauthorized, session } from "./api.js";
import { loadCodes } from "./codes.js";
import { append, clear, errorBlock, h, loadingBlock, toast } from "./dom.js";
import { applyLargeText, textSizeButton } from "./text-size.js";

const UNIT = ["unit"];
const ADMIN = ["admin"];
const AUDITOR = ["auditor"];
const SECADMIN = ["secadmin"];
const ANYONE = ["unit", "admin", "downstream", "auditor", "secadmin"];

// path pattern -> screen module and the menu entry it belongs to.
const ROUTES = [
  { path: "/login", screen: "login", public: true, title: "登录" },
  { path: "/home", screen: "home", roles: UNIT, title: "首页", menu: "/home" },
  { path: "/notices", screen: "notices", roles: ["unit", "admin"], title: "通知公告", menu: "/home" },
  { path: "/notices/:id", screen: "notice", roles: ["unit", "admin"], title: "通知公告详情", menu: "/home" },
  { path: "/roster", screen: "roster", roles: UNIT, title: "人员列表" },
  { path: "/declare/enrolment", screen: "enrolment", roles: UNIT, title: "城乡居民参保" },
  { path: "/declare/batch-enrolment", screen: "batch", roles: UNIT, title: "批量城乡居民参保", props: { type: "enrolment" } },
  { path: "/declare/suspension", screen: "suspension", roles: UNIT, title: "城乡居民暂停参保" },
  { path: "/declare/batch-suspension", screen: "batch", roles: UNIT, title: "批量城乡居民暂停参保", props: { type: "suspension" } },
  { path: "/declare/change", screen: "change", roles: UNIT, title: "城乡居民变更" },
  { path: "/batches", screen: "batches", roles: UNIT, title: "批量提交记录" },
  { path: "/records", screen: "records", roles: UNIT, title: "城乡居民参保记录" },
  { path: "/password", screen: "password", roles: ANYONE, title: "修改密码" },
  { path: "/admin/dashboard", screen: "admin-dashboard", roles: ADMIN, title: "参保进度" },
  { path: "/admin/units", screen: "admin-units", roles: ADMIN, title: "单位管理" },
  { path: "/admin/targets", screen: "admin-targets", roles: ADMIN, title: "参保任务" },
  { path: "/admin/notices", screen: "admin-notices", roles: ADMIN, title: "通知公告管理" },
  { path: "/audit", screen: "audit", roles: AUDITOR, title: "审计日志" },
  { path: "/admin/accounts", screen: "accounts", roles: SECADMIN, title: "账号安全管理" },
];

const UNIT_MENU = [
  { href: "/home", text: "首页", icon: "⌂" },
  {
    text: "居民业务办理", icon: "▤", items: [
      { href: "/roster", text: "人员列表" },
      {
        text: "增员减员申报", items: [
          { href: "/declare/enrolment", text: "城乡居民参保" },
          { href: "/declare/batch-enrolment", text: "批量城乡居民参保" },
          { href: "/declare/suspension", text: "城乡居民暂停参保" },
          { href: "/declare/batch-suspension", text: "批量城乡居民暂停参保" },
          { href: "/declare/change", text: "城乡居民变更" },
          { href: "/batches", text: "批量提交记录" },
        ],
      },
    ],
  },
  { text: "相关查询", icon: "⌕", items: [{ href: "/records", text: "城乡居民参保记录" }] },
  { href: "/password", text: "修改密码", icon: "◇" },
  { action: "logout", text: "退出", icon: "←" },
];

const ADMIN_MENU = [
  {
    text: "管理端", icon: "⚙", items: [
      { href: "/admin/dashboard", text: "参保进度" },
      { href: "/admin/units", text: "单位管理" },
      { href: "/admin/targets", text: "参保任务" },
      { href: "/admin/notices", text: "通知公告管理" },
    ],
  },
  { href: "/notices", text: "通知公告", icon: "✉" },
  { href: "/password", text: "修改密码", icon: "◇" },
  { action: "logout", text: "退出", icon: "←" },
];

const AUDITOR_MENU = [
  { text: "审计管理", icon: "⚖", items: [{ href: "/audit", text: "审计日志" }] },
  { href: "/password", text: "修改密码", icon: "◇" },
  { action: "logout", text: "退出", icon: "←" },
];

const SECADMIN_MENU = [
  { text: "安全管理", icon: "◈", items: [{ href: "/admin/accounts", text: "账号安全管理" }] },
  { href: "/password", text: "修改密码", icon: "◇" },
  { action: "logout", text: "退出", icon: "←" },
];

const root = document.getElementById("app");
let shell = null; // {main, menu, unread, role}
let renderSeq = 0;
let cleanup = null;

export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) route();
  else location.hash = target;
}

export function homePath(role) {
  if (role === "auditor") return "/audit";
  if (role === "secadmin") return "/admin/accounts";
  return role === "admin" ? "/admin/dashboard" : role === "unit" ? "/home" : "/password";
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const at = raw.indexOf("?");
  const path = decodeURIComponent(at < 0 ? raw : raw.slice(0, at));
  const qs = at < 0 ? "" : raw.slice(at + 1);
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(qs)) };
}

function match(path) {
  for (const r of ROUTES) {
    const names = [];
    const re = new RegExp(`^${r.path.replace(/:(\w+)/g, (_, n) => { names.push(n); return "([^/]+)"; })}$`);
    const m = re.exec(path);
    if (m) return { route: r, params: Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) };
  }
  return null;
}

function expired(s) {
  return !s || !s.token || (s.expires_at && new Date(s.expires_at) < new Date());
}

async function logout() {
  try {
    await api("POST", "/api/auth/logout");
  } catch { /* the token may already be gone */ }
  session.clear();
  sessionStorage.removeItem("edt.notice");
  sessionStorage.removeItem("edt.return");
  shell = null;
  navigate("/login");
  toast("已安全退出", "success");
}

onUnauthorized(() => {
  if (!session.get()) return;
  session.clear();
  shell = null;
  sessionStorage.setItem("edt.notice", "登录已失效，请重新登录");
  const here = parseHash().path;
  if (here !== "/login") sessionStorage.setItem("edt.return", location.hash);
  navigate("/login");
});

function menuItem(item, current, depth) {
  if (item.items) {
    const open = true;
    return h("li", { class: `menu-group depth-${depth}` },
      h("div", { class: "menu-heading" }, item.icon ? h("span", { class: "menu-icon", "aria-hidden": "true" }, item.icon) : null, item.text),
      h("ul", { hidden: !open }, item.items.map((x) => menuItem(x, current, depth + 1))));
  }
  if (item.action === "logout") {
    return h("li", { class: `depth-${depth}` }, h("button", { type: "button", class: "menu-link", onclick: logout, "data-action": "logout" },
      item.icon ? h("span", { class: "menu-icon", "aria-hidden": "true" }, item.icon) : null, item.text));
  }
  const active = item.href === current;
  return h("li", { class: `depth-${depth}` }, h("a", {
    class: `menu-link${active ? " active" : ""}`, href: `#${item.href}`, "aria-current": active ? "page" : null,
    // choosing the screen one is on starts it afresh
    onclick: (e) => { if (location.hash === `#${item.href}`) { e.preventDefault(); route(); } },
  }, item.icon ? h("span", { class: "menu-icon", "aria-hidden": "true" }, item.icon) : null, item.text));
}

applyLargeText();

// Below a tablet's width the menu is a drawer opened from the top bar.
const narrow = window.matchMedia("(max-width: 900px)");

function drawerOpen() {
  return !!shell && shell.el.classList.contains("drawer-open");
}

function openDrawer() {
  if (!shell) return;
  shell.el.classList.add("drawer-open");
  shell.toggle.setAttribute("aria-expanded", "true");
  const first = shell.menu.querySelector(".menu-link.active") || shell.menu.querySelector(".menu-link");
  if (first) first.focus();
}

// returnFocus: "toggle" (Escape, the button), "main" (a screen was chosen), or none
function closeDrawer(returnFocus) {
  if (!drawerOpen()) return;
  shell.el.classList.remove("drawer-open");
  shell.toggle.setAttribute("aria-expanded", "false");
  if (returnFocus === "toggle") shell.toggle.focus();
  else if (returnFocus === "main") shell.main.focus({ preventScroll: true });
}

document.addEventListener("keydown", (e) => {
  if (!drawerOpen()) return;
  if (e.key === "Escape") {
    e.preventDefault();
    closeDrawer("toggle");
  } else if (e.key === "Tab") {
    // while open, the focus stays with the menu and its button
    const items = [shell.toggle, ...shell.menu.querySelectorAll(".menu-link")];
    const at = items.indexOf(document.activeElement);
    e.preventDefault();
    items[(at < 0 ? 0 : at + (e.shiftKey ? items.length - 1 : 1)) % items.length].focus();
  }
});
narrow.addEventListener("change", () => { if (!narrow.matches) closeDrawer(); });

function buildShell(s) {
  // 通知 belongs to units and the system administrator; the other roles have no notices
  const unread = h("a", { class: "topbar-notices", href: "#/notices", title: "通知公告", hidden: !["unit", "admin"].includes(s.role) },
    h("span", { "aria-hidden": "true" }, "✉ "), h("span", { class: "notices-word" }, "通知"),
    h("span", { class: "badge", hidden: true }), h("span", { class: "sr-only unread-text" }));
  const who = s.role === "unit" && s.unit
    ? [h("span", { class: "topbar-unit", title: "单位名称" }, s.unit.name), h("span", { class: "topbar-account" }, `账号：${s.account || ""}`)]
    : [h("span", { class: "topbar-unit" }, "平台管理端"), h("span", { class: "topbar-account" }, `账号：${s.account || ""}`)];
  const menu = h("ul", { class: "menu" });
  const main = h("main", { id: "main", class: "content", tabindex: "-1" });
  const toggle = h("button", {
    type: "button", class: "menu-toggle", "aria-expanded": "false", "aria-controls": "sidebar",
    onclick: () => (drawerOpen() ? closeDrawer("toggle") : openDrawer()),
  }, h("span", { "aria-hidden": "true" }, "☰"), h("span", { class: "sr-only" }, "菜单"));
  const textSize = textSizeButton("btn btn-ghost btn-small");
  const el = h("div", { class: "shell" },
    h("a", { class: "skip-link", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "跳到主要内容"),
    h("header", { class: "topbar" },
      h("div", { class: "topbar-left" }, toggle,
        h("div", { class: "brand" }, h("span", { class: "brand-logo", "aria-hidden": "true" }, "E"),
          h("span", { class: "brand-name" }, "泉州居民E点通"), h("span", { class: "brand-sub" }, "城乡居民基本医疗保险网上申报"))),
      h("div", { class: "topbar-right" }, who, textSize, unread,
        h("button", { type: "button", class: "btn btn-ghost topbar-logout", onclick: logout }, "退出"))),
    h("div", { class: "body" },
      h("nav", { class: "sidebar", id: "sidebar", "aria-label": "主菜单" }, menu),
      h("div", { class: "drawer-backdrop", "aria-hidden": "true", onclick: () => closeDrawer("toggle") }),
      main));
  // a screen chosen in the drawer closes it and takes the focus
  menu.addEventListener("click", (e) => { if (e.target.closest("a.menu-link")) closeDrawer("main"); });
  clear(root).append(el);
  shell = { el, main, menu, unread, toggle, role: s.role, account: s.account };
}

function renderMenu(s, current) {
  clear(shell.menu);
  const menu = s.role === "secadmin" ? SECADMIN_MENU : s.role === "auditor" ? AUDITOR_MENU : s.role === "admin" ? ADMIN_MENU : s.role === "unit" ? UNIT_MENU : [UNIT_MENU[3], UNIT_MENU[4]];
  for (const item of menu) {
    shell.menu.append(menuItem(item, current, 0));
  }
}

export async function refreshUnread() {
  if (!shell || shell.role !== "unit") return;
  const badge = shell.unread.querySelector(".badge");
  try {
    const data = await api("GET", "/api/notices/unread_count");
    const n = Number(data && (data.count ?? data.unread ?? data.unread_count)) || 0;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    // the name is the visible text and more (WCAG 2.5.3): "通知 5 条未读"
    shell.unread.querySelector(".unread-text").textContent = n ? "条未读" : "";
  } catch {
    badge.hidden = true;
  }
}

async function route() {
  const seq = ++renderSeq;
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  const { path, query } = parseHash();
  const s = session.get();
  const found = match(path);
  if (!found) {
    navigate(expired(s) ? "/login" : homePath(s.role));
    return;
  }
  const { route: r, params } = found;
  if (!r.public && expired(s)) {
    session.clear();
    shell = null;
    if (s) sessionStorage.setItem("edt.notice", "登录已超时，请重新登录");
    if (path !== "/login") sessionStorage.setItem("edt.return", location.hash);
    navigate("/login");
    return;
  }
  if (r.path === "/login" && !expired(s)) {
    navigate(homePath(s.role));
    return;
  }
  if (r.roles && !r.roles.includes(s.role)) {
    navigate(homePath(s.role));
    return;
  }
  // an initial, temporary or expired password: nothing but 修改密码 until changed
  if (!r.public && s.must_change_password && r.path !== "/password") {
    navigate("/password");
    return;
  }
  document.title = `${r.title} · 泉州居民E点通`;
  let container;
  if (r.public) {
    shell = null;
    container = clear(root);
  } else {
    if (!shell || shell.account !== s.account) buildShell(s);
    else closeDrawer();
    renderMenu(s, r.menu || r.path);
    container = clear(shell.main);
    container.append(loadingBlock());
  }
  if (!r.public) {
    // Every screen behind the login shows or checks codes: the tables come
    // from the platform (GET /api/codes), fetched once and kept.
    try {
      await loadCodes();
    } catch (err) {
      console.warn("code tables not loaded", err);
      if (seq === renderSeq) replace(container, errorBlock({ message: "代码表加载失败，请检查网络后重试" }, () => route()));
      return;
    }
    if (seq !== renderSeq) return;
  }
  let mod;
  try {
    mod = await import(`./screens/${r.screen}.js`);
  } catch (err) {
    console.error(err);
    if (seq === renderSeq) replace(container, errorBlock({ message: "页面加载失败，请刷新后重试" }));
    return;
  }
  if (seq !== renderSeq) return;
  clear(container);
  const section = h("section", { class: `screen screen-${r.screen}`, "data-screen": r.screen, "aria-labelledby": "screen-title" });
  if (!r.public) section.append(h("div", { class: "screen-head" }, h("h1", { id: "screen-title" }, r.title)));
  container.append(section);
  const ctx = { params, query, session: s, navigate, title: r.title, props: r.props || {}, refreshUnread, isCurrent: () => seq === renderSeq };
  try {
    const result = mod.render(section, ctx);
    cleanup = typeof result === "function" ? result : null;
  } catch (err) {
    console.error(err);
    section.append(errorBlock({ message: "页面出错，请刷新后重试" }));
  }
  if (!r.public) refreshUnread();
}

function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

window.addEventListener("hashchange", route);
loadCodes().catch(() => { /* route() asks again and says so */ });
route();
