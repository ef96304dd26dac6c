// Activity: the audit trail with filters (kept in the URL) and export, and
// usage charts from the aggregate endpoint /v1/usage.

import { h, mount, field, badge, time, empty, status } from "./dom.js";
import { get, all, enc } from "./api.js";
import { callsOverTime, hbars } from "./charts.js";

const DECISIONS = ["allowed", "refused", "unknown_tool", "limited", "limit_unavailable", "approval_required",
  "approval_approved", "approval_denied", "approval_timed_out", "approval_abandoned", "unreviewed"];
const FILTERS = ["server", "grant", "tool", "decision", "since", "until"];

const toIso = (local) => (local ? new Date(local).toISOString() : "");
const toLocal = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

export async function activityPage(ctx) {
  const { main, navigate } = ctx;
  const params = new URLSearchParams(location.search);
  const [servers, grants] = await Promise.all([all("/servers"), all("/grants")]);
  const serverNames = new Map(servers.map((s) => [s.id, s.name]));
  const grantNames = new Map(grants.map((g) => [g.id, g.name]));

  const select = (name, options) => h("select", { name },
    h("option", { value: "" }, "any"),
    options.map(([value, label]) => h("option", { value, selected: params.get(name) === value }, label)));
  const inputs = {
    server: select("server", servers.map((s) => [s.id, s.name])),
    grant: select("grant", grants.map((g) => [g.id, g.name])),
    tool: h("input", { type: "text", name: "tool", value: params.get("tool") || "", autocomplete: "off" }),
    decision: select("decision", DECISIONS.map((d) => [d, d])),
    since: h("input", { type: "datetime-local", name: "since", value: toLocal(params.get("since")) }),
    until: h("input", { type: "datetime-local", name: "until", value: toLocal(params.get("until")) }),
  };
  const fields = {
    server: field("Server", inputs.server), grant: field("Grant", inputs.grant), tool: field("Tool", inputs.tool),
    decision: field("Decision", inputs.decision), since: field("From", inputs.since), until: field("Until", inputs.until),
  };
  const form = h("form", { class: "card filters", "aria-label": "Filters" },
    h("div", { class: "filter-grid" }, Object.values(fields)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters"),
      h("a", { href: "/activity", class: "button secondary" }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const raw = inputs[name].value.trim();
      const value = name === "since" || name === "until" ? toIso(raw) : raw;
      if (value) next.set(name, value);
    }
    navigate(`/activity${next.toString() ? `?${next}` : ""}`);
  });

  const query = new URLSearchParams();
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  const say = status();
  const charts = h("div", {});
  const log = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load older events");
  let cursor = null;

  async function loadEvents() {
    const q = new URLSearchParams(query);
    q.set("limit", "50");
    if (cursor) q.set("cursor", cursor);
    const page = await get(`/audit?${q}`);
    for (const e of page.items) {
      log.append(h("tr", { "data-event": e.id },
        h("td", {}, time(e.at)),
        h("td", { class: "mono wrap" }, e.tool),
        h("td", {}, badge(e.decision, e.decision)),
        h("td", {}, serverNames.get(e.server) || e.server),
        h("td", {}, e.grant ? grantNames.get(e.grant) || e.grant : "—"),
        h("td", { class: "wrap" }, e.reason || ""),
        h("td", {}, `${e.latency_ms} ms`),
        h("td", { class: "mono wrap" }, e.arguments !== undefined ? JSON.stringify(e.arguments) : (e.argument_keys || []).join(", "))));
    }
    if (!log.children.length) log.append(h("tr", {}, h("td", { colspan: 8 }, empty("No events match."))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => loadEvents().catch((err) => say.say(err.message, "error")));

  async function loadCharts() {
    const q = new URLSearchParams(query);
    q.delete("decision");
    const usage = await get(`/usage?${q}`);
    mount(charts,
      h("div", { class: "chart-grid" },
        h("section", { class: "card", "aria-labelledby": "c1" },
          h("h3", { id: "c1" }, "Calls over time"),
          h("p", { class: "legend" }, h("span", { class: "key ok" }, "allowed"), h("span", { class: "key wait" }, "waiting for approval"), h("span", { class: "key bad" }, "refused")),
          usage.calls.length ? callsOverTime(usage, "Calls over time by decision") : empty("No calls in this window.")),
        h("section", { class: "card", "aria-labelledby": "c2" },
          h("h3", { id: "c2" }, "Top tools"),
          usage.top_tools.length ? hbars(usage.top_tools, "Calls per tool (refused in red)", (t) => t.tool, (t) => t.calls, (t) => t.refused) : empty("No calls."),
          usage.top_tools.length ? h("table", { class: "table compact" }, h("caption", { class: "visually-hidden" }, "Top tools"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Tool"), h("th", { scope: "col" }, "Calls"), h("th", { scope: "col" }, "Refused"))),
            h("tbody", {}, usage.top_tools.map((t) => h("tr", {}, h("td", { class: "mono wrap" }, t.tool), h("td", {}, String(t.calls)), h("td", {}, String(t.refused)))))) : null),
        h("section", { class: "card", "aria-labelledby": "c3" },
          h("h3", { id: "c3" }, "Refusals by reason"),
          usage.refusals.length ? h("table", { class: "table compact" }, h("caption", { class: "visually-hidden" }, "Refusals by reason"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Decision"), h("th", { scope: "col" }, "Reason"), h("th", { scope: "col" }, "Calls"))),
            h("tbody", {}, usage.refusals.map((r) => h("tr", {}, h("td", {}, badge(r.decision, r.decision)), h("td", { class: "wrap" }, r.reason || "—"), h("td", {}, String(r.calls))))))
            : empty("No refusals.")),
        h("section", { class: "card", "aria-labelledby": "c4" },
          h("h3", { id: "c4" }, "Latency"),
          h("dl", { class: "facts" },
            h("dt", {}, "Calls"), h("dd", {}, String(usage.latency.calls)),
            ["p50", "p90", "p99", "max"].map((p) => [h("dt", {}, p), h("dd", {}, usage.latency[`${p}_ms`] == null ? "—" : `${usage.latency[`${p}_ms`]} ms`)])))),
      h("p", { class: "hint" }, `From ${new Date(usage.since).toLocaleString()} to ${new Date(usage.until).toLocaleString()}, in buckets of ${usage.bucket_secs / 60} min.`));
  }

  const exportQuery = new URLSearchParams(query);
  mount(main,
    h("h1", {}, "Activity"),
    form,
    say,
    h("section", { "aria-labelledby": "usage-h" }, h("h2", { id: "usage-h" }, "Usage"), charts),
    h("section", { "aria-labelledby": "audit-h" },
      h("h2", { id: "audit-h" }, "Audit trail"),
      h("div", { class: "actions" },
        h("a", { href: `/v1/audit/export${exportQuery.toString() ? `?${exportQuery}` : ""}`, download: "toolgate-audit.ndjson", class: "button secondary" }, "Export as NDJSON")),
      h("div", { class: "table-scroll" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Audit events, newest first"),
        h("thead", {}, h("tr", {}, ["Time", "Tool", "Decision", "Server", "Grant", "Reason", "Latency", "Arguments"].map((c) => h("th", { scope: "col" }, c)))),
        log)),
      more));
  try {
    await Promise.all([loadEvents(), loadCharts()]);
  } catch (err) {
    // A bad filter in the URL: show the API's words at its field.
    for (const e of err.errors || []) if (fields[e.path]) fields[e.path].showError(e.message);
    say.say(err.message, "error");
  }
}
