// The one way the dashboard makes DOM: text is always a text node, never
// markup. Tool names, descriptions, schemas and arguments come from
// upstreams and agents; they pass through here as strings and stay text.

/** h(tag, props, ...children): an element. Children are nodes or strings
 *  (strings become text nodes). Props: on* take functions only; href only
 *  a path of this site. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) {
      if (typeof value !== "function") throw new Error(`${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected") {
      el[key] = Boolean(value);
    } else if (key === "href" || key === "src" || key === "action") {
      const url = String(value);
      if (!url.startsWith("/") || url.startsWith("//")) throw new Error(`${key} must be a path of this site`);
      el.setAttribute(key, url);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replaces el's content. */
export function mount(el, ...children) {
  clear(el);
  return append(el, children);
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled input; `error` slot below it shows a field's problem. */
export function field(label, input, hint) {
  const id = input.id || uid();
  input.id = id;
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", describedBy);
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    error);
  wrap.showError = (message) => {
    error.textContent = message || "";
    error.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };
  return wrap;
}

export function button(label, onclick, props = {}) {
  return h("button", { type: "button", ...props, onclick }, label);
}

/** A pre block of JSON (as text). */
export function json(value) {
  // Focusable, so a keyboard can scroll a long one.
  return h("pre", { class: "code", tabindex: "0" }, JSON.stringify(value, null, 2));
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return h("time", { datetime: iso, title: iso }, d.toLocaleString());
}

export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind || text}` }, text);
}

/** Copies text; the button says so for a moment. */
export function copyButton(text, label = "Copy") {
  const b = h("button", { type: "button", class: "secondary copy" }, label);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy";
    }
    setTimeout(() => { b.textContent = label; }, 1500);
  });
  return b;
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** An aria-live status line. */
export function status() {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" });
  el.say = (text, kind) => { el.textContent = text || ""; el.className = `status ${kind || ""}`; };
  return el;
}
