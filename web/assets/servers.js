// Servers: the list, and adding one (its credentials are write-only).

import { h, mount, field, badge, time, empty } from "./dom.js";
import { all, post } from "./api.js";
import { showProblem } from "./forms.js";

export async function serversPage({ main, navigate, can }) {
  const servers = await all("/servers");
  const list = servers.length
    ? h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Your servers"),
        h("thead", {}, h("tr", {}, ["Name", "Upstream URL", "Catalog", "Tools", "Added"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, servers.map((s) => h("tr", {},
          h("td", {}, h("a", { href: `/servers/${encodeURIComponent(s.id)}` }, s.name)),
          h("td", { class: "mono wrap" }, s.url),
          h("td", {}, badge(s.catalog.status, `catalog-${s.catalog.status}`)),
          h("td", {}, s.catalog.tool_count ?? "—"),
          h("td", {}, time(s.created_at))))))
    : empty("No servers yet. Add the first one below: Toolgate will list its tools and classify their risk.");
  mount(main, h("h1", {}, "Servers"), list, can("ManageServers") ? addServerForm(navigate, can("ManageCredentials")) : null);
}

function addServerForm(navigate, credentials) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", placeholder: "everything" });
  const url = h("input", { type: "url", name: "url", required: true, autocomplete: "off", placeholder: "https://mcp.example.com/mcp" });
  const headers = h("div", { class: "header-rows" });
  const fields = {
    "/name": field("Name", name, "Lowercase letters, digits and dashes: it ends the gateway URL."),
    "/url": field("Upstream URL", url),
    "/headers": h("div", {}),
  };
  fields["/headers"].showError = (m) => { headersError.textContent = m || ""; headersError.hidden = !m; };
  const headersError = h("p", { class: "field-error", role: "alert", hidden: true });
  const addHeader = () => {
    const key = h("input", { type: "text", autocomplete: "off", placeholder: "Authorization", "aria-label": "Header name" });
    const value = h("input", { type: "password", autocomplete: "new-password", placeholder: "Bearer …", "aria-label": "Header value (write-only)" });
    const row = h("div", { class: "row" }, key, value,
      h("button", { type: "button", class: "secondary", onclick: () => row.remove(), "aria-label": "Remove this header" }, "Remove"));
    headers.append(row);
  };
  const alert = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, "Add a server"),
    fields["/name"], fields["/url"],
    !credentials ? null : h("fieldset", {},
      h("legend", {}, "Credentials (optional)"),
      h("p", { class: "hint" }, "Headers Toolgate adds to every request to the upstream. They are stored encrypted and never shown again."),
      headers,
      h("button", { type: "button", class: "secondary", onclick: addHeader }, "Add a header"),
      headersError),
    alert,
    h("button", { type: "submit" }, "Add server"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    const body = { name: name.value.trim(), url: url.value.trim() };
    const rows = [...headers.querySelectorAll(".row")];
    if (rows.length) {
      body.headers = {};
      for (const row of rows) {
        const [k, v] = row.querySelectorAll("input");
        if (k.value.trim()) body.headers[k.value.trim()] = v.value;
      }
    }
    try {
      const server = await post("/servers", body);
      navigate(`/servers/${encodeURIComponent(server.id)}`);
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  return form;
}
