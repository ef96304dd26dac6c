// Grants: agents' credentials. The token is shown once, when created.

import { h, mount, field, badge, time, copyButton, empty, status } from "./dom.js";
import { all, get, post, del, enc } from "./api.js";
import { showProblem } from "./forms.js";

export async function grantsPage(ctx) {
  const { main } = ctx;
  const [grants, servers, used] = await Promise.all([all("/grants"), all("/servers"), get("/usage/grants").catch(() => ({ items: [] }))]);
  const lastUsed = new Map(used.items.map((u) => [u.grant, u.last_used_at]));
  const names = new Map(servers.map((s) => [s.id, s.name]));
  const created = h("div", { "aria-live": "polite" });
  const say = status();
  const rows = grants.map((g) => {
    const revoke = g.status === "active" && ctx.can("ManageGrants")
      ? h("button", { type: "button", class: "danger" }, `Revoke ${g.name}`)
      : null;
    if (revoke) {
      revoke.addEventListener("click", async () => {
        if (!window.confirm(`Revoke ${g.name}? Agents using it stop at once.`)) return;
        try {
          await del(`/grants/${enc(g.id)}`);
          await grantsPage(ctx);
        } catch (err) {
          say.say(err.message, "error");
        }
      });
    }
    return h("tr", {},
      h("td", {}, g.name),
      h("td", { class: "mono" }, `${g.prefix}…`),
      h("td", {}, g.servers ? g.servers.map((id) => names.get(id) || id).join(", ") : "all servers"),
      h("td", {}, badge(g.status, g.status)),
      h("td", {}, lastUsed.has(g.id) ? time(lastUsed.get(g.id)) : "never"),
      h("td", {}, time(g.created_at)),
      h("td", {}, revoke));
  });
  mount(main,
    h("h1", {}, "Grants"),
    h("p", {}, "A grant is an agent's credential for the gateway: a token sent as ", h("code", {}, "Authorization: Bearer"), "."),
    created,
    ctx.can("ManageGrants") ? newGrantForm(servers, created, ctx) : null,
    grants.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "table" },
          h("caption", { class: "visually-hidden" }, "Grants"),
          h("thead", {}, h("tr", {}, ["Name", "Token", "Servers", "Status", "Last used", "Created", ""].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows)))
      : empty("No grants yet."),
    say);
}

function newGrantForm(servers, created, ctx) {
  const name = h("input", { type: "text", autocomplete: "off", required: true });
  const fields = { "/name": field("Name", name, "Which agent or deployment uses it.") };
  const boxes = servers.map((s) => {
    const box = h("input", { type: "checkbox", value: s.id, id: `grant-srv-${s.id}` });
    return h("div", { class: "check" }, box, h("label", { for: box.id }, s.name));
  });
  const alert = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, "Create a grant"),
    fields["/name"],
    servers.length ? h("fieldset", {}, h("legend", {}, "Servers (none ticked: all)"), boxes) : null,
    alert,
    h("button", { type: "submit" }, "Create grant"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll("input[type=checkbox]:checked")].map((b) => b.value);
    const body = { name: name.value.trim() };
    if (chosen.length) body.servers = chosen;
    try {
      const grant = await post("/grants", body);
      await grantsPage(ctx);
      mount(ctx.main.querySelector("[aria-live]"), h("section", { class: "card attention", "aria-labelledby": "token-h" },
        h("h2", { id: "token-h" }, `Token for ${grant.name}`),
        h("p", {}, "Copy it now: it is shown only this once."),
        h("div", { class: "copy-row" }, h("code", { class: "mono wrap", id: "new-token" }, grant.token), copyButton(grant.token, "Copy token"))));
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  return form;
}
