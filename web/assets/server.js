// One server: its gateway URL and client configuration, its catalog, and
// every tool with its risk and what the policy does to it. Everything
// about a tool comes from the upstream: it is shown as text.

import { h, mount, badge, time, copyButton, json, empty, status } from "./dom.js";
import { get, post, enc } from "./api.js";
import { clientConfigs } from "./clients.js";
import { diffView } from "./diff.js";

export async function serverPage(ctx, id) {
  const { main, can } = ctx;
  const [server, catalog, account] = await Promise.all([
    get(`/servers/${enc(id)}`),
    get(`/servers/${enc(id)}/tools`),
    get("/account"),
  ]);
  const say = status();
  const refresh = h("button", { type: "button", class: "secondary" }, "Discover tools again");
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    say.say("Asking the upstream…");
    try {
      await post(`/servers/${enc(id)}/tools/refresh`);
      await serverPage(ctx, id);
    } catch (err) {
      say.say(err.message, "error");
      refresh.disabled = false;
    }
  });
  const review = catalog.tools.filter((t) => t.pin.status !== "pinned");
  mount(main,
    h("p", { class: "crumbs" }, h("a", { href: "/servers" }, "Servers"), " / "),
    h("h1", {}, server.name),
    h("section", { class: "card", "aria-labelledby": "gw-h" },
      h("h2", { id: "gw-h" }, "Connect an agent"),
      h("p", {}, "Point any MCP client at this gateway URL, with a grant's token (create one under ", h("a", { href: "/grants" }, "Grants"), ")."),
      h("div", { class: "copy-row" },
        h("code", { class: "mono wrap", id: "gateway-url" }, server.gateway_url),
        copyButton(server.gateway_url, "Copy URL")),
      clientTabs(server, account)),
    h("section", { class: "card", "aria-labelledby": "cat-h" },
      h("h2", { id: "cat-h" }, "Catalog"),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", {}, badge(catalog.catalog.status, `catalog-${catalog.catalog.status}`)),
        h("dt", {}, "Checked"), h("dd", {}, time(catalog.catalog.checked_at)),
        h("dt", {}, "Tools"), h("dd", {}, String(catalog.catalog.tool_count ?? "—")),
        catalog.catalog.detail ? [h("dt", {}, "Detail"), h("dd", {}, catalog.catalog.detail)] : null,
        h("dt", {}, "Upstream"), h("dd", { class: "mono wrap" }, server.url),
        h("dt", {}, "Credentials"), h("dd", {}, server.header_names.length ? server.header_names.join(", ") + " (write-only)" : "none")),
      h("div", { class: "actions" }, can("ManageCatalog") ? refresh : null,
        h("a", { class: "button", href: `/servers/${enc(id)}/policy` }, can("ManagePolicies") ? "Edit the policy" : "View the policy")),
      say),
    review.length ? await reviewSection(ctx, id, review) : null,
    h("section", { "aria-labelledby": "tools-h" },
      h("h2", { id: "tools-h" }, `Tools (${catalog.tools.length})`),
      catalog.tools.length
        ? h("ul", { class: "tools" }, catalog.tools.map(toolCard))
        : empty("No tools found yet.")));
}

function toolCard(tool) {
  const def = tool.definition || {};
  const p = tool.policy || {};
  return h("li", { class: "tool card", "data-tool": tool.name },
    h("div", { class: "tool-head" },
      h("h3", { class: "mono" }, tool.name),
      badge(`${tool.risk} risk`, `risk-${tool.risk}`),
      badge(tool.category, "category"),
      badge(policyLabel(p), `policy-${p.action}`),
      tool.pin.status !== "pinned" ? badge(tool.pin.status === "changed" ? "changed: review" : "unreviewed", "warn") : null),
    def.title ? h("p", { class: "tool-title" }, def.title) : null,
    def.description ? h("p", { class: "tool-desc" }, def.description) : null,
    tool.flags.length ? h("p", {}, "Flags: ", tool.flags.map((f) => badge(f, "flag"))) : null,
    h("details", {},
      h("summary", {}, "Why this risk, and what the policy does"),
      h("ul", { class: "reasons" }, tool.reasons.map((r) => h("li", {}, r.text,
        r.evidence ? h("span", { class: "evidence" }, ` (${r.evidence.kind}: `, h("code", {}, String(r.evidence.value)), ")") : null))),
      h("p", {}, "Policy: ", policyLabel(p), p.reason ? ` — ${p.reason}` : "", p.pointer ? h("code", { class: "pointer" }, ` ${p.pointer}`) : null),
      (p.limits || []).length ? h("ul", {}, p.limits.map((l) => h("li", {},
        `Limit ${l.counter}: ${l.max} per ${l.window} per ${l.scope}${l.cost ? `, cost ${l.cost}` : ""}`))) : null),
    h("details", {}, h("summary", {}, "Input schema"), json(def.inputSchema ?? {})));
}

export function policyLabel(p) {
  switch (p.action) {
    case "allowed": return (p.limits || []).length ? "allowed, limited" : "allowed";
    case "require_approval": return "needs approval";
    case "denied": return "denied";
    case "hidden": return "hidden";
    default: return p.action || "—";
  }
}

async function reviewSection(ctx, id, tools) {
  // The reviewed definitions, to compare with the new ones.
  const pinned = new Map(await Promise.all(tools.map(async (tool) => [tool.name,
    tool.pin.pinned_hash ? await get(`/servers/${enc(id)}/tools/${enc(tool.name)}/pinned`).catch(() => null) : null])));
  return h("section", { class: "card attention", "aria-labelledby": "rev-h" },
    h("h2", { id: "rev-h" }, "Definition changes waiting for review"),
    h("p", {}, "Agents do not see these tools, and their calls are refused, until you accept the definition as it is now."),
    tools.map((tool) => {
      const change = (tool.history || [])[0];
      const say = status();
      const accept = ctx.can("ManageCatalog") ? h("button", { type: "button" }, `Accept the new definition of ${tool.name}`) : h("span", {});
      accept.addEventListener("click", async () => {
        accept.disabled = true;
        try {
          await post(`/servers/${enc(id)}/tools/${enc(tool.name)}/pin`, { hash: tool.hash });
          await serverPage(ctx, id);
        } catch (err) {
          say.say(err.message, "error");
          accept.disabled = false;
        }
      });
      return h("article", { class: "review" },
        h("h3", { class: "mono" }, tool.name),
        h("dl", { class: "facts" },
          h("dt", {}, "Status"), h("dd", {}, tool.pin.status),
          h("dt", {}, "What changed"), h("dd", {}, change && Array.isArray(change.changes) && change.changes.length ? change.changes.join(", ") : "new tool"),
          h("dt", {}, "Reviewed (old)"), h("dd", { class: "mono wrap" }, tool.pin.pinned_hash || "never reviewed"),
          h("dt", {}, "Now (new)"), h("dd", { class: "mono wrap" }, tool.hash)),
        h("h4", {}, "Reviewed definition → new definition"),
        pinned.get(tool.name)
          ? diffView(JSON.stringify(pinned.get(tool.name).definition, null, 2), JSON.stringify(tool.definition, null, 2))
          : [h("p", { class: "hint" }, "Never reviewed: the whole definition is new."), json(tool.definition)],
        accept, say);
    }));
}

function clientTabs(server, account) {
  const configs = clientConfigs(server, account);
  const tablist = h("div", { role: "tablist", "aria-label": "Client configuration", class: "tabs" });
  const panels = h("div", {});
  configs.forEach((c, i) => {
    const tab = h("button", { type: "button", role: "tab", id: `tab-${i}`, "aria-controls": `panel-${i}`, "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? "0" : "-1" }, c.label);
    const panel = h("div", { role: "tabpanel", id: `panel-${i}`, "aria-labelledby": `tab-${i}`, hidden: i !== 0, tabindex: "0" },
      h("p", { class: "hint" }, c.where),
      h("div", { class: "copy-row" }, copyButton(c.text, "Copy configuration")),
      h("pre", { class: "code", tabindex: "0" }, c.text));
    const select = () => {
      tablist.querySelectorAll("[role=tab]").forEach((t) => { t.setAttribute("aria-selected", "false"); t.tabIndex = -1; });
      panels.querySelectorAll("[role=tabpanel]").forEach((p) => { p.hidden = true; });
      tab.setAttribute("aria-selected", "true");
      tab.tabIndex = 0;
      panel.hidden = false;
      tab.focus();
    };
    tab.addEventListener("click", select);
    tab.addEventListener("keydown", (e) => {
      const tabs = [...tablist.querySelectorAll("[role=tab]")];
      const at = tabs.indexOf(tab);
      if (e.key === "ArrowRight") { e.preventDefault(); tabs[(at + 1) % tabs.length].click(); }
      if (e.key === "ArrowLeft") { e.preventDefault(); tabs[(at - 1 + tabs.length) % tabs.length].click(); }
    });
    tablist.append(tab);
    panels.append(panel);
  });
  return h("div", {}, tablist, panels);
}
