// 大字模式 (适老化): every text of the portal about 1.3× larger (the CSS sizes
// text in rem; html.large-text raises the root size), remembered per browser.
import { h } from "./dom.js";

const KEY = "edt.largeText";

export function largeText() {
  try { return localStorage.getItem(KEY) === "1"; } catch { return false; }
}

export function applyLargeText(on = largeText()) {
  document.documentElement.classList.toggle("large-text", on);
}

// The switch: a toggle button 「大字」 (aria-pressed says whether it is on).
export function textSizeButton(cls) {
  const button = h("button", {
    type: "button", class: `${cls} text-size`, "aria-pressed": String(largeText()), title: "大字模式（适老化）",
    onclick: () => {
      const on = !largeText();
      try { localStorage.setItem(KEY, on ? "1" : "0"); } catch { /* private mode: this page only */ }
      applyLargeText(on);
      for (const b of document.querySelectorAll(".text-size")) b.setAttribute("aria-pressed", String(on));
    },
  }, "大字");
  return button;
}
