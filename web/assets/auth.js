// Sign in and sign up. The session is a cookie the page's script never sees.

import { h, mount, field } from "./dom.js";
import { post, Problem } from "./api.js";
import { showProblem } from "./forms.js";

export function signInPage({ main, signedIn }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const fields = { "/email": field("Email", email), "/password": field("Password", password) };
  const alert = h("p", { class: "form-error", role: "alert" });
  const next = new URLSearchParams(location.search).get("next");
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, "Sign in to Toolgate"),
    fields["/email"], fields["/password"], alert,
    h("button", { type: "submit" }, "Sign in"),
    h("p", {}, "No account yet? ", h("a", { href: "/signup" }, "Create one")),
    h("p", {}, h("a", { href: "/reset-password" }, "Forgot your password?")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    try {
      await post("/session", { email: email.value, password: password.value });
      signedIn(next);
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  mount(main, form);
  email.focus();
}

export function signUpPage({ main, signedIn }) {
  const account = h("input", { type: "text", name: "account", autocomplete: "organization", required: true });
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const fields = {
    "/account": field("Account name", account, "Your team or company; gateway URLs use a slug of it."),
    "/email": field("Email", email),
    "/password": field("Password", password, "At least 10 characters."),
  };
  const alert = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, "Create your Toolgate account"),
    fields["/account"], fields["/email"], fields["/password"], alert,
    h("button", { type: "submit" }, "Create account"),
    h("p", {}, "Have an account? ", h("a", { href: "/signin" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    Object.values(fields).forEach((f) => f.showError(""));
    try {
      const answer = await post("/signup", { account: account.value, email: email.value, password: password.value });
      if (answer && answer.status === "verification_sent") {
        mount(main, h("div", { class: "card narrow" }, h("h1", {}, "Check your inbox"), h("p", {}, answer.detail)));
        return;
      }
      await post("/session", { email: email.value, password: password.value });
      signedIn("/servers");
    } catch (err) {
      if (err instanceof Problem) showProblem(err, fields, alert);
      else alert.textContent = err.message;
    }
  });
  mount(main, form);
  account.focus();
}

/** The token a mailed link carries after `#token=` (never sent to the server as part of the URL). */
function linkToken() {
  return new URLSearchParams(location.hash.slice(1)).get("token") || "";
}

export function resetPasswordPage({ main }) {
  const token = linkToken();
  const alert = h("p", { class: "form-error", role: "alert" });
  if (!token) {
    // Ask for a link.
    const email = h("input", { type: "email", autocomplete: "username", required: true });
    const fields = { "/email": field("Email", email) };
    const done = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "card narrow", novalidate: true },
      h("h1", {}, "Reset your password"),
      h("p", {}, "We mail a link to set a new password, if the address has an account."),
      fields["/email"], alert, h("button", { type: "submit" }, "Mail me a link"), done,
      h("p", {}, h("a", { href: "/signin" }, "Back to sign in")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answer = await post("/password-reset", { email: email.value });
        mount(done, h("p", { class: "status ok" }, answer.detail));
      } catch (err) {
        showProblem(err, fields, alert);
      }
    });
    mount(main, form);
    email.focus();
    return;
  }
  const password = h("input", { type: "password", autocomplete: "new-password", required: true });
  const fields = { "/password": field("New password", password, "At least 10 characters.") };
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, "Choose a new password"), fields["/password"], alert,
    h("button", { type: "submit" }, "Set the password"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post("/password-reset/confirm", { token, password: password.value });
      mount(main, h("div", { class: "card narrow" }, h("h1", {}, "Password changed"),
        h("p", {}, "Every session of yours has ended. ", h("a", { href: "/signin" }, "Sign in"), " with the new password.")));
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  mount(main, form);
  password.focus();
}

export function acceptInvitationPage({ main, signedIn }) {
  const token = linkToken();
  const email = h("input", { type: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", autocomplete: "new-password", required: true });
  const fields = {
    "/email": field("Your email (the invited address)", email),
    "/password": field("Password", password, "New here: choose one (at least 10 characters). Already have an account: your password."),
    "/token": h("div", {}),
  };
  fields["/token"].showError = (m) => { if (m) alert.textContent = m; };
  const alert = h("p", { class: "form-error", role: "alert" }, token ? "" : "This link has no invitation token: open the link from the invitation as it was sent.");
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, "Join the team"),
    fields["/email"], fields["/password"], alert,
    h("button", { type: "submit", disabled: !token }, "Accept the invitation"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    try {
      const joined = await post("/invitations/accept", { token, password: password.value });
      await post("/session", { email: email.value, password: password.value, account: joined.account_id });
      signedIn("/servers");
    } catch (err) {
      showProblem(err, fields, alert);
    }
  });
  mount(main, form);
  email.focus();
}
