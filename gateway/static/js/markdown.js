// The notices' small Markdown subset (services/notices/rules.py): paragraphs
// and line breaks, # to ### headings, **bold**, *italic*, "-" and "1." lists,
// [text](url) links. Built from DOM nodes with text nodes only, so any HTML in
// a notice is shown as text; link targets other than http(s), mailto, tel or
// relative ones are shown as text, not linked.
import { h } from "./dom.js";

const SAFE_SCHEMES = ["http", "https", "mailto", "tel"];

function safeHref(target) {
  // eslint-disable-next-line no-control-regex
  const plain = target.replace(/[\x00-\x20\x7f]/g, "").toLowerCase();
  const m = /^([a-z][a-z0-9+.-]*):/.exec(plain);
  return !m || SAFE_SCHEMES.includes(m[1]);
}

const INLINE = /\*\*(.+?)\*\*|\*(.+?)\*|\[([^\]]+)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/g;

function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("strong", null, inline(m[1])));
    else if (m[2] !== undefined) out.push(h("em", null, inline(m[2])));
    else if (safeHref(m[4])) out.push(h("a", { href: m[4], target: "_blank", rel: "noopener noreferrer" }, m[3]));
    else out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function withBreaks(lines) {
  const out = [];
  lines.forEach((line, i) => {
    if (i) out.push(h("br"));
    out.push(...inline(line));
  });
  return out;
}

export function renderNoticeBody(body) {
  const root = h("div", { class: "notice-body md" });
  const lines = String(body || "").replace(/\r\n?/g, "\n").split("\n");
  let para = [];
  let list = null;
  const flushPara = () => {
    if (para.length) root.append(h("p", null, withBreaks(para)));
    para = [];
  };
  const flushList = () => {
    if (list) root.append(list);
    list = null;
  };
  for (const line of lines) {
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    const numbered = /^\s*(\d+)\.\s+(.*)$/.exec(line);
    if (!line.trim()) {
      flushPara();
      flushList();
    } else if (heading) {
      flushPara();
      flushList();
      root.append(h(`h${heading[1].length + 2}`, null, inline(heading[2])));
    } else if (bullet || numbered) {
      flushPara();
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        flushList();
        list = h(tag, numbered ? { start: numbered[1] } : null);
      }
      list.append(h("li", null, inline(bullet ? bullet[1] : numbered[2])));
    } else {
      flushList();
      para.push(line);
    }
  }
  flushPara();
  flushList();
  return root;
}
