// A line diff (longest common subsequence) of two texts, as list items
// marked added or removed; text stays text.

import { h } from "./dom.js";

export function lineDiff(before, after) {
  const a = before.split("\n");
  const b = after.split("\n");
  const n = a.length;
  const m = b.length;
  // Documents are small (a policy): the quadratic table is fine.
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
    else if (j < m && (i === n || table[i][j + 1] >= table[i + 1][j])) { out.push(["+", b[j]]); j++; }
    else { out.push(["-", a[i]]); i++; }
  }
  return out;
}

export function diffView(before, after) {
  const lines = lineDiff(before, after);
  const changed = lines.filter(([k]) => k !== " ").length;
  return h("div", { class: "diffview" },
    h("p", {}, changed ? `${lines.filter(([k]) => k === "+").length} lines added, ${lines.filter(([k]) => k === "-").length} removed.` : "No change."),
    h("pre", { class: "code diff-lines", tabindex: "0" }, lines.map(([kind, text]) =>
      h("span", { class: kind === "+" ? "add" : kind === "-" ? "del" : "same" },
        h("span", { class: "visually-hidden" }, kind === "+" ? "added: " : kind === "-" ? "removed: " : ""),
        `${kind} ${text}\n`))));
}
