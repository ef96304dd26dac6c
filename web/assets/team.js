// Team: the account's members and their roles, and invitations.

import { h, mount, field, time, copyButton, empty, status } from "./dom.js";
import { get, post, patch, del, all, enc } from "./api.js";
import { showProblem } from "./forms.js";

const ROLES = ["admin", "policy_manager", "approver", "viewer", "auditor"];
const label = (role) => role.replace("_", " ");

export async function teamPage(ctx) {
  const { main, can, me } = ctx;
  const manage = can("ManageMembers");
  const [members, invitations] = await Promise.all([
    get("/members"),
    manage ? all("/invitations") : Promise.resolve([]),
  ]);
  const say = status();
  const rows = members.items.map((m) => {
    const self = m.user_id === me.id;
    let roleCell = label(m.role);
    let remove = null;
    if (manage && !self) {
      const select = h("select", { "aria-label": `Role of ${m.email}` },
        ROLES.map((r) => h("option", { value: r, selected: r === m.role }, label(r))));
      select.addEventListener("change", async () => {
        try {
          await patch(`/members/${enc(m.user_id)}`, { role: select.value });
          say.say(`${m.email} is now ${label(select.value)}.`, "ok");
        } catch (err) {
          say.say(err.message, "error");
          select.value = m.role;
        }
      });
      roleCell = select;
      remove = h("button", { type: "button", class: "danger" }, `Remove ${m.email}`);
      remove.addEventListener("click", async () => {
        if (!window.confirm(`Remove ${m.email} from the account? Their sessions end at once.`)) return;
        try {
          await del(`/members/${enc(m.user_id)}`);
          await teamPage(ctx);
        } catch (err) {
          say.say(err.message, "error");
        }
      });
    }
    return h("tr", {}, h("td", {}, m.email, self ? " (you)" : ""), h("td", {}, roleCell), h("td", {}, time(m.joined_at)), h("td", {}, remove));
  });
  mount(main,
    h("h1", {}, "Team"),
    say,
    h("div", { class: "table-scroll" }, h("table", { class: "table" },
      h("caption", { class: "visually-hidden" }, "Members"),
      h("thead", {}, h("tr", {}, ["Member", "Role", "Joined", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))),
    manage ? inviteForm(ctx) : null,
    manage ? h("section", { "aria-labelledby": "inv-h" },
      h("h2", { id: "inv-h" }, "Invitations"),
      invitations.length
        ? h("div", { class: "table-scroll" }, h("table", { class: "table" },
            h("caption", { class: "visually-hidden" }, "Invitations"),
            h("thead", {}, h("tr", {}, ["Email", "Role", "Status", "Expires", ""].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, invitations.map((i) => h("tr", {},
              h("td", {}, i.email), h("td", {}, label(i.role)), h("td", {}, i.status), h("td", {}, time(i.expires_at)),
              h("td", {}, i.status === "pending" ? h("button", { type: "button", class: "secondary", onclick: async () => {
                try { await del(`/invitations/${enc(i.id)}`); await teamPage(ctx); } catch (err) { say.say(err.message, "error"); }
              } }, `Withdraw the invitation of ${i.email}`) : null))))))
        : empty("No invitations.")) : null);
}

function inviteForm(ctx) {
  const email = h("input", { type: "email", autocomplete: "off" });
  const role = h("select", {}, ROLES.map((r) => h("option", { value: r, selected: r === "viewer" }, label(r))));
  const fields = { "/email": field("Email", email), "/role": field("Role", role) };
  const alert = h("p", { class: "form-error", role: "alert" });
  const sent = h("div", { "aria-live": "polite", id: "invite-sent" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, "Invite someone"), fields["/email"], fields["/role"], alert,
    h("button", { type: "submit" }, "Send invitation"), sent);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await post("/invitations", { email: email.value.trim(), role: role.value });
      await teamPage(ctx);
      mount(ctx.main.querySelector("#invite-sent"), h("div", { class: "card attention" },
        h("p", {}, made.mailed ? `Mailed to ${made.email}. The link, if you would rather pass it on yourself:` : `Send ${made.email} this link (shown once):`),
        h("div", { class: "copy-row" }, h("code", { class: "mono wrap", id: "invite-link" }, made.link), copyButton(made.link, "Copy link"))));
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  return form;
}
