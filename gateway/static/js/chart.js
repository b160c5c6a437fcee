// The 12-month chart of 首页, drawn as inline SVG: bars for the increase and
// decrease of each month (left axis), a line for the insured count at the end
// of each month (right axis).
import { h, scrollBox } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c == null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = v / p;
  const step = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
  return Math.ceil(v / (step * p / 4)) * (step * p / 4);
}

function monthLabel(month) {
  const [y, m] = String(month).split("-");
  return { short: `${Number(m)}月`, full: `${y}年${Number(m)}月` };
}

export function monthlyChart(months) {
  const W = 560;
  const H = 250;
  const pad = { l: 40, r: 44, t: 22, b: 34 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const n = Math.max(months.length, 1);
  const barMax = niceMax(Math.max(0, ...months.map((m) => Math.max(m.increase, m.decrease))));
  const lineMaxRaw = Math.max(0, ...months.map((m) => m.insured_end));
  const lineMax = niceMax(lineMaxRaw);
  const slot = iw / n;
  const bw = Math.min(14, slot / 3);
  const yBar = (v) => pad.t + ih - (v / barMax) * ih;
  const yLine = (v) => pad.t + ih - (v / lineMax) * ih;

  const svg = s("svg", {
    class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "近12个月参保人数变化图：每月增加、减少人数与月末参保人数",
  });
  for (let i = 0; i <= 4; i += 1) {
    const y = pad.t + (ih * i) / 4;
    svg.append(s("line", { class: "grid", x1: pad.l, x2: W - pad.r, y1: y, y2: y }));
    svg.append(s("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end" }, String(Math.round(barMax * (4 - i) / 4))));
    svg.append(s("text", { x: W - pad.r + 6, y: y + 4, "text-anchor": "start" }, String(Math.round(lineMax * (4 - i) / 4))));
  }
  svg.append(s("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: pad.t + ih, y2: pad.t + ih }));
  svg.append(s("text", { x: 2, y: pad.t - 10, "text-anchor": "start" }, "人次"));
  svg.append(s("text", { x: W - 2, y: pad.t - 10, "text-anchor": "end" }, "参保人数"));

  const points = [];
  months.forEach((m, i) => {
    const cx = pad.l + slot * i + slot / 2;
    const label = monthLabel(m.month);
    const tip = `${label.full}：增加 ${m.increase} 人，减少 ${m.decrease} 人，月末参保 ${m.insured_end} 人`;
    const g = s("g", { class: "month", "data-month": m.month }, s("title", null, tip),
      s("rect", { class: "hit", x: cx - slot / 2, y: pad.t, width: slot, height: ih + pad.b }));
    g.append(s("rect", { class: "bar-inc", x: cx - bw - 1, y: yBar(m.increase), width: bw, height: Math.max(0, pad.t + ih - yBar(m.increase)) }));
    g.append(s("rect", { class: "bar-dec", x: cx + 1, y: yBar(m.decrease), width: bw, height: Math.max(0, pad.t + ih - yBar(m.decrease)) }));
    g.append(s("text", { x: cx, y: H - pad.b + 16, "text-anchor": "middle" }, label.short));
    svg.append(g);
    points.push([cx, yLine(m.insured_end), tip]);
  });
  if (points.length) {
    svg.append(s("polyline", { class: "line-insured", points: points.map(([x, y]) => `${x},${y}`).join(" ") }));
    for (const [x, y, tip] of points) svg.append(s("circle", { class: "pt-insured", cx: x, cy: y, r: 3 }, s("title", null, tip)));
  }

  const legend = h("div", { class: "legend", "aria-hidden": "true" },
    h("span", null, h("i", { style: "background:var(--green)" }), "本月增加"),
    h("span", null, h("i", { style: "background:var(--orange)" }), "本月减少"),
    h("span", null, h("i", { style: "background:var(--blue);height:2px;vertical-align:3px" }), "月末参保人数"));

  // The same figures as a table, for screen readers.
  const table = h("table", { class: "sr-only" },
    h("caption", null, "近12个月参保人数"),
    h("thead", null, h("tr", null, ["月份", "增加", "减少", "月末参保人数"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, months.map((m) => h("tr", null,
      h("td", null, monthLabel(m.month).full), h("td", null, String(m.increase)),
      h("td", null, String(m.decrease)), h("td", null, String(m.insured_end))))));

  // A tap (or click) on a month shows its figures under the chart: the
  // <title> tips need a mouse to hover.
  const tipLine = h("p", { class: "chart-tip", "aria-hidden": "true" }, "点按某月的柱形，查看当月数字");
  svg.addEventListener("click", (e) => {
    const g = e.target.closest && e.target.closest("g.month");
    if (!g) return;
    for (const x of svg.querySelectorAll("g.month.on")) x.classList.remove("on");
    g.classList.add("on");
    tipLine.textContent = g.querySelector("title").textContent;
  });
  return h("div", { class: "chart-box" }, legend, scrollBox(h("div", { class: "chart-scroll" }, svg), "近12个月参保变化图"), tipLine, table);
}
