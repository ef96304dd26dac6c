// Settings: the account's name, its approval webhook (the signing secret is
// shown once) and management API keys (the secret is shown once).

import { h, mount, field, time, copyButton, empty, status } from "./dom.js";
import { get, patch, post, del, all, enc } from "./api.js";
import { showProblem } from "./forms.js";

function shownOnce(title, secret, id) {
  return h("section", { class: "card attention", "aria-labelledby": `${id}-h` },
    h("h3", { id: `${id}-h` }, title),
    h("p", {}, "Copy it now: it is shown only this once."),
    h("div", { class: "copy-row" }, h("code", { class: "mono wrap", id }, secret), copyButton(secret, "Copy")));
}

export async function settingsPage(ctx) {
  const { main } = ctx;
  const mayKeys = ctx.can("ManageApiKeys");
  const mayAccount = ctx.can("ManageAccount");
  const [account, keys] = await Promise.all([get("/account"), mayKeys ? all("/api-keys") : Promise.resolve([])]);

  // The account and its webhook.
  const name = h("input", { type: "text", value: account.name, autocomplete: "organization" });
  const webhook = h("input", { type: "url", value: account.approval_webhook_url || "", placeholder: "https://hooks.example.com/toolgate" });
  const accountFields = {
    "/name": field("Account name", name),
    "/approval_webhook_url": field("Approval webhook URL", webhook, "Toolgate POSTs each new approval and tool change here, signed; empty turns it off."),
  };
  const accountAlert = h("p", { class: "form-error", role: "alert" });
  const accountSaid = h("div", { "aria-live": "polite" });
  const accountForm = h("form", { class: "card", novalidate: true },
    h("h2", {}, "Account"),
    h("dl", { class: "facts" }, h("dt", {}, "Slug"), h("dd", { class: "mono" }, account.slug),
      h("dt", {}, "Gateway base URL"), h("dd", { class: "mono wrap" }, account.gateway_base_url)),
    accountFields["/name"], accountFields["/approval_webhook_url"], accountAlert,
    h("button", { type: "submit" }, "Save account"), accountSaid);
  accountForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    accountAlert.textContent = "";
    const body = {};
    if (name.value.trim() !== account.name) body.name = name.value.trim();
    const url = webhook.value.trim() || null;
    if (url !== (account.approval_webhook_url || null)) body.approval_webhook_url = url;
    try {
      const saved = await patch("/account", body);
      Object.assign(account, saved);
      Object.values(accountFields).forEach((f) => f.showError(""));
      mount(accountSaid,
        h("p", { class: "status ok", role: "status" }, "Saved."),
        saved.approval_webhook_secret ? shownOnce("Webhook signing secret", saved.approval_webhook_secret, "webhook-secret") : null);
    } catch (err) {
      showProblem(err, accountFields, accountAlert);
    }
  });

  // API keys.
  const keyName = h("input", { type: "text", autocomplete: "off" });
  const keyFields = { "/name": field("Key name", keyName, "What uses it, e.g. CI.") };
  const keyAlert = h("p", { class: "form-error", role: "alert" });
  const keySaid = h("div", { "aria-live": "polite", id: "keys-said" });
  const say = status();
  const keyForm = h("form", { class: "card", novalidate: true },
    h("h2", {}, "API keys"),
    h("p", {}, "For scripts and CI: send as ", h("code", {}, "Authorization: Bearer tgk_…"), "."),
    keySaid,
    keyFields["/name"], keyAlert,
    h("button", { type: "submit" }, "Create API key"),
    keys.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "table" },
          h("caption", { class: "visually-hidden" }, "API keys"),
          h("thead", {}, h("tr", {}, ["Name", "Key", "Last used", "Created", ""].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, keys.map((k) => {
            const remove = h("button", { type: "button", class: "danger" }, `Delete ${k.name}`);
            remove.addEventListener("click", async () => {
              if (!window.confirm(`Delete the API key ${k.name}? What uses it stops working.`)) return;
              try {
                await del(`/api-keys/${enc(k.id)}`);
                await settingsPage(ctx);
              } catch (err) {
                say.say(err.message, "error");
              }
            });
            return h("tr", {}, h("td", {}, k.name), h("td", { class: "mono" }, `${k.prefix}…`),
              h("td", {}, k.last_used_at ? time(k.last_used_at) : "never"), h("td", {}, time(k.created_at)), h("td", {}, remove));
          }))))
      : empty("No API keys."),
    say);
  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const key = await post("/api-keys", { name: keyName.value.trim() });
      await settingsPage(ctx);
      mount(main.querySelector("#keys-said"), shownOnce(`API key ${key.name}`, key.secret, "new-key"));
    } catch (err) {
      showProblem(err, keyFields, keyAlert);
    }
  });

  if (!mayAccount) {
    [name, webhook].forEach((input) => { input.disabled = true; });
    accountForm.querySelector("button[type=submit]").remove();
  }
  mount(main, h("h1", {}, "Settings"), accountForm, mayKeys ? keyForm : null);
}
