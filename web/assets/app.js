// The shell: routing by path (each screen's path serves this page), the
// navigation, and who is signed in.

import { h, mount } from "./dom.js";
import { get, del, whenSignedOut } from "./api.js";
import { signInPage, signUpPage } from "./auth.js";
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
];

const PUBLIC = new Set(["/signin", "/signup"]);

const NAV = [
  ["/servers", "Servers"],
  ["/approvals", "Approvals"],
  ["/grants", "Grants"],
  ["/activity", "Activity"],
  ["/settings", "Settings"],
];

let account = null;
let stopPage = null;

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

whenSignedOut(() => {
  account = null;
  if (!PUBLIC.has(location.pathname)) navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, true);
});

async function signOut() {
  try { await del("/session"); } catch { /* the cookies are cleared either way */ }
  account = null;
  navigate("/signin");
}

function shell(main) {
  const path = location.pathname;
  const nav = h("nav", { "aria-label": "Main" },
    h("ul", {}, NAV.map(([href, label]) => h("li", {},
      h("a", { href, "aria-current": path.startsWith(href) ? "page" : null }, label)))));
  return [
    h("header", { class: "top" },
      h("a", { href: "/servers", class: "brand" }, "Toolgate"),
      nav,
      h("div", { class: "who" },
        h("span", { class: "account-name" }, account ? account.name : ""),
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
    (path === "/signin" ? signInPage : signUpPage)({ main, navigate, signedIn });
    return;
  }
  if (!account) {
    try {
      account = await get("/account");
    } catch {
      return; // whenSignedOut has moved to the sign-in page
    }
  }
  if (mine !== generation) return;
  if (path === "/") { navigate("/servers", true); return; }
  const route = ROUTES.find(([re]) => re.test(path));
  mount(root, shell(main));
  const ctx = { main, navigate, account, onStop: (fn) => { stopPage = fn; } };
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
