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
    h("p", {}, "No account yet? ", h("a", { href: "/signup" }, "Create one")));
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
