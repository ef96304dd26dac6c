// Small SVG charts drawn with attributes only (the CSP allows no inline
// style), each beside a table of the same numbers.

const NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const DECISION_CLASS = (d) => (d === "allowed" || d === "approval_approved" ? "ok" : d === "approval_required" ? "wait" : "bad");

/** Stacked bars: calls per bucket, coloured by decision. */
export function callsOverTime(usage, label) {
  const buckets = new Map();
  for (const b of usage.calls) {
    const key = b.at;
    if (!buckets.has(key)) buckets.set(key, []);
    buckets.get(key).push(b);
  }
  const start = new Date(usage.since).getTime();
  const end = new Date(usage.until).getTime();
  const n = Math.max(1, Math.ceil((end - start) / (usage.bucket_secs * 1000)));
  const max = Math.max(1, ...[...buckets.values()].map((bs) => bs.reduce((s, b) => s + b.calls, 0)));
  const W = 600;
  const H = 160;
  const bw = W / n;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 20}`, class: "chart", role: "img", "aria-label": label });
  for (const [at, bs] of buckets) {
    const i = Math.floor((new Date(at).getTime() - start) / (usage.bucket_secs * 1000));
    let y = H;
    for (const b of bs) {
      const h = (b.calls / max) * H;
      y -= h;
      chart.append(svg("rect", { x: (i * bw + 1).toFixed(1), y: y.toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: h.toFixed(1), class: `bar ${DECISION_CLASS(b.decision)}` },
        svg("title", {}, `${new Date(at).toLocaleString()}: ${b.calls} ${b.decision}`)));
    }
  }
  chart.append(svg("line", { x1: 0, y1: H, x2: W, y2: H, class: "axis" }));
  chart.append(svg("text", { x: 0, y: H + 15, class: "tick" }, new Date(start).toLocaleString()));
  chart.append(svg("text", { x: W, y: H + 15, class: "tick", "text-anchor": "end" }, new Date(end).toLocaleString()));
  chart.append(svg("text", { x: 2, y: 12, class: "tick" }, `max ${max}`));
  return chart;
}

/** Horizontal bars: one row per item. */
export function hbars(items, label, name, value, extra) {
  const W = 600;
  const row = 22;
  const max = Math.max(1, ...items.map(value));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${Math.max(row, items.length * row)}`, class: "chart", role: "img", "aria-label": label });
  items.forEach((item, i) => {
    const w = (value(item) / max) * (W * 0.55);
    chart.append(svg("text", { x: 0, y: i * row + 15, class: "tick" }, name(item).slice(0, 40)));
    chart.append(svg("rect", { x: W * 0.4, y: i * row + 4, width: Math.max(1, w).toFixed(1), height: row - 8, class: "bar ok" }));
    if (extra) {
      const e = (extra(item) / max) * (W * 0.55);
      if (e > 0) chart.append(svg("rect", { x: W * 0.4, y: i * row + 4, width: Math.max(1, e).toFixed(1), height: row - 8, class: "bar bad" }));
    }
    chart.append(svg("text", { x: W * 0.4 + w + 4, y: i * row + 15, class: "tick" }, String(value(item))));
  });
  return chart;
}
