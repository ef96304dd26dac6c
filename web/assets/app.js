// The shell: routing by path (each screen's path serves this page), the
// navigation, and who is signed in.

import { h, mount } from "./dom.js";
import { get, del, post, whenSignedOut } from "./api.js";
import { can } from "./roles.js";
import { signInPage, signUpPage, resetPasswordPage, acceptInvitationPage } from "./auth.js";
// Each screen's module loads when first shown: the sign-in page loads only
// what it needs.
const ROUTES = [
  [/^\/servers\/?$/, "servers.js", "serversPage"],
  [/^\/servers\/([^/]+)\/policy\/?$/, "policy.js", "policyPage"],
  [/^\/servers\/([^/]+)\/?$/, "server.js", "serverPage"],
  [/^\/approvals\/?$/, "approvals.js", "approvalsPage"],
  [/^\/approvals\/([^/]+)\/?$/, "approvals.js", "approvalPage"],
  [/^\/grants\/?$/, "grants.js", "grantsPage"],
  [/^\/activity\/?$/, "activity.js", "activityPage"],
  [/^\/settings\/?$/, "settings.js", "settingsPage"],
  [/^\/team\/?$/, "team.js", "teamPage"],
];

const PUBLIC = new Set(["/signin", "/signup", "/reset-password", "/invitations/accept"]);

// Each entry: the permission that makes the page useful.
const NAV = [
  ["/servers", "Servers", "ReadServers"],
  ["/approvals", "Approvals", "ReadApprovals"],
  ["/grants", "Grants", "ReadGrants"],
  ["/activity", "Activity", "ReadAudit"],
  ["/team", "Team", "ReadAccount"],
  ["/settings", "Settings", "ReadAccount"],
];

let account = null;
let me = null;
let stopPage = null;

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

whenSignedOut(() => {
  account = null;
  me = null;
  if (!PUBLIC.has(location.pathname)) navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, true);
});

async function signOut() {
  try { await del("/session"); } catch { /* an ended session has nothing to end */ }
  account = null;
  me = null;
  navigate("/signin");
}

function shell(main) {
  const path = location.pathname;
  const nav = h("nav", { "aria-label": "Main" },
    h("ul", {}, NAV.filter(([, , permission]) => can(me.role, permission)).map(([href, label]) => h("li", {},
      h("a", { href, "aria-current": path.startsWith(href) ? "page" : null }, label)))));
  return [
    h("header", { class: "top" },
      h("a", { href: "/servers", class: "brand" }, "Toolgate"),
      nav,
      h("div", { class: "who" },
        accountSwitcher(),
        h("span", { class: "role" }, `${me.email} · ${me.role.replace("_", " ")}`),
        h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"))),
    main,
  ];
}

let generation = 0;

export async function render() {
  if (stopPage) { stopPage(); stopPage = null; }
  const mine = ++generation;
  const root = document.getElementById("app");
  const path = location.pathname;
  const main = h("main", { id: "main", tabindex: "-1" });
  if (PUBLIC.has(path)) {
    mount(root, main);
    const pages = { "/signin": signInPage, "/signup": signUpPage, "/reset-password": resetPasswordPage, "/invitations/accept": acceptInvitationPage };
    pages[path]({ main, navigate, signedIn });
    return;
  }
  if (!account) {
    try {
      [account, me] = await Promise.all([get("/account"), get("/me")]);
    } catch {
      return; // whenSignedOut has moved to the sign-in page
    }
  }
  if (mine !== generation) return;
  if (path === "/") { navigate("/servers", true); return; }
  const route = ROUTES.find(([re]) => re.test(path));
  mount(root, shell(main));
  const ctx = { main, navigate, account, me, can: (permission) => can(me.role, permission), onStop: (fn) => { stopPage = fn; } };
  if (!route) {
    mount(main, h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "/servers" }, "Go to your servers.")));
    return;
  }
  const [re, file, name] = route;
  const params = path.match(re).slice(1).map(decodeURIComponent);
  try {
    const module = await import(`./${file}`);
    if (mine !== generation) return;
    await module[name](ctx, ...params);
  } catch (err) {
    mount(main, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, err.message));
  }
  document.title = `${(main.querySelector("h1") || {}).textContent || "Toolgate"} · Toolgate`;
}

function accountSwitcher() {
  if (!me || me.memberships.length < 2) return h("span", { class: "account-name" }, account ? account.name : "");
  const select = h("select", { "aria-label": "Account", class: "switcher" },
    me.memberships.map((m) => h("option", { value: m.account_id, selected: m.account_id === me.account_id }, `${m.account_name} (${m.role.replace("_", " ")})`)));
  select.addEventListener("change", async () => {
    try {
      await post("/session/switch", { account_id: select.value });
      account = null;
      me = null;
      navigate("/servers");
    } catch (err) {
      window.alert(err.message);
    }
  });
  return select;
}

function signedIn(next) {
  account = null;
  navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/servers");
}

// Internal links move without a reload.
document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const href = a.getAttribute("href");
  if (!href.startsWith("/") || href.startsWith("//") || href.startsWith("/v1/")) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", render);
render();
