// Approvals: the pending queue, refreshed every second and a half, each
// call with its tool, risk, arguments (as text), who asked and time left;
// approve or deny with a reason; the history; and one approval by its id
// (the page webhooks and agents link to).

import { h, mount, badge, time, json, empty, status, field } from "./dom.js";
import { get, post, all, enc } from "./api.js";

const POLL_MS = 1500;

/** Names for grant ids, and risks for tools, fetched once per page. */
function lookups() {
  let grants = null;
  const tools = new Map();
  return {
    async grantName(id) {
      if (!grants) grants = all("/grants").then((items) => new Map(items.map((g) => [g.id, g.name]))).catch(() => new Map());
      return (await grants).get(id) || id;
    },
    async risk(serverId, tool) {
      if (!tools.has(serverId)) {
        tools.set(serverId, get(`/servers/${enc(serverId)}/tools`)
          .then((c) => new Map(c.tools.map((t) => [t.name, t.risk])))
          .catch(() => new Map()));
      }
      return (await tools.get(serverId)).get(tool) || null;
    },
  };
}

function timeLeft(expiresAt) {
  const ms = new Date(expiresAt).getTime() - Date.now();
  if (ms <= 0) return "expired";
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
}

async function approvalCard(a, look, onDecided, headingLevel = "h3", mayDecide = true) {
  const [grant, risk] = await Promise.all([look.grantName(a.grant_id), look.risk(a.server_id, a.tool)]);
  const left = h("span", { class: "time-left" }, timeLeft(a.expires_at));
  const card = h("article", { class: "card approval", "data-approval": a.id, "aria-label": `Approval for ${a.tool}` },
    h("div", { class: "tool-head" },
      h(headingLevel, { class: "mono" }, a.tool),
      risk ? badge(`${risk} risk`, `risk-${risk}`) : null,
      badge(a.status, a.status)),
    h("dl", { class: "facts" },
      h("dt", {}, "Server"), h("dd", {}, h("a", { href: `/servers/${enc(a.server_id)}` }, a.server_name)),
      h("dt", {}, "Asked by"), h("dd", {}, `grant ${grant}`),
      h("dt", {}, "Asked"), h("dd", {}, time(a.created_at)),
      a.status === "pending" ? [h("dt", {}, "Time left"), h("dd", {}, left)] : null,
      a.decided_at ? [h("dt", {}, "Decided"), h("dd", {}, time(a.decided_at), a.decided_by_name ? ` by ${a.decided_by_name}` : "")] : null,
      a.reason ? [h("dt", {}, "Reason"), h("dd", {}, a.reason)] : null),
    h("h4", {}, "Arguments"),
    a.arguments === undefined ? h("p", { class: "hint" }, "Your role does not show arguments.") : json(a.arguments),
    a.status === "pending" && mayDecide ? decisionForm(a, onDecided) : null);
  card.tick = () => { left.textContent = timeLeft(a.expires_at); };
  return card;
}

function decisionForm(a, onDecided) {
  const reason = h("input", { type: "text", maxlength: 1000, autocomplete: "off" });
  const say = status();
  const decide = (action) => async () => {
    approve.disabled = true;
    deny.disabled = true;
    try {
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      await post(`/approvals/${enc(a.id)}/${action}`, body);
      say.say(action === "approve" ? "Approved: the call goes ahead." : "Denied: the agent is told why.", "ok");
      onDecided();
    } catch (err) {
      say.say(err.message, "error");
      approve.disabled = false;
      deny.disabled = false;
    }
  };
  const approve = h("button", { type: "button", onclick: decide("approve") }, `Approve ${a.tool}`);
  const deny = h("button", { type: "button", class: "danger", onclick: decide("deny") }, `Deny ${a.tool}`);
  return h("div", { class: "decide" },
    field("Reason (optional; an agent is shown it on a denial)", reason),
    h("div", { class: "actions" }, approve, deny), say);
}

export async function approvalsPage(ctx) {
  const { main } = ctx;
  const look = lookups();
  const queue = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const history = h("div", {});
  const filter = h("select", { id: "history-status" },
    [["", "all decided"], ["approved", "approved"], ["used", "approved and used"], ["denied", "denied"], ["expired", "expired"], ["abandoned", "abandoned"]]
      .map(([value, label]) => h("option", { value }, label)));
  let shown = null;
  let cards = [];
  let stopped = false;

  async function refresh() {
    const pending = (await get("/approvals?status=pending&limit=200")).items;
    const key = pending.map((a) => a.id).join(",");
    if (key !== shown) {
      // Keep what a person is typing: only redraw when the queue changed.
      shown = key;
      cards = await Promise.all(pending.map((a) => approvalCard(a, look, () => { shown = null; refresh(); loadHistory(); }, "h3", ctx.can("DecideApprovals"))));
      mount(queue, cards.length ? cards : empty("Nothing is waiting for a decision."));
    }
    cards.forEach((c) => c.tick());
  }
  async function loadHistory() {
    const query = filter.value ? `status=${enc(filter.value)}&` : "";
    const items = (await get(`/approvals?${query}limit=50`)).items.filter((a) => a.status !== "pending");
    const list = await Promise.all(items.map((a) => approvalCard(a, look, () => {}, "h4")));
    mount(history, list.length ? list : empty("No decided approvals."));
  }
  filter.addEventListener("change", loadHistory);

  mount(main,
    h("h1", {}, "Approvals"),
    h("section", { "aria-labelledby": "pending-h" }, h("h2", { id: "pending-h" }, "Waiting for you"), queue),
    h("section", { "aria-labelledby": "hist-h" },
      h("h2", { id: "hist-h" }, "History"),
      h("div", { class: "field inline" }, h("label", { for: "history-status" }, "Show"), filter),
      history));
  await Promise.all([refresh(), loadHistory()]);
  const timer = setInterval(() => { if (!stopped) refresh().catch(() => {}); }, POLL_MS);
  ctx.onStop(() => { stopped = true; clearInterval(timer); });
}

export async function approvalPage(ctx, id) {
  const { main } = ctx;
  const look = lookups();
  const say = status();
  let timer = null;
  async function load() {
    let a;
    try {
      a = await get(`/approvals/${enc(id)}`);
    } catch (err) {
      mount(main, h("h1", {}, "Approval not found"), h("p", { role: "alert" }, err.message),
        h("p", {}, h("a", { href: "/approvals" }, "See all approvals")));
      return null;
    }
    const card = await approvalCard(a, look, () => { load(); }, "h2", ctx.can("DecideApprovals"));
    mount(main,
      h("p", { class: "crumbs" }, h("a", { href: "/approvals" }, "Approvals"), " / "),
      h("h1", {}, `Approval ${a.id}`), card, say);
    return { a, card };
  }
  const first = await load();
  if (first && first.a.status === "pending") {
    let current = first;
    timer = setInterval(async () => {
      current.card.tick();
      const a = await get(`/approvals/${enc(id)}`).catch(() => null);
      if (a && a.status !== current.a.status) current = (await load()) || current;
    }, POLL_MS);
  }
  ctx.onStop(() => { if (timer) clearInterval(timer); });
}
