// The policy builder: one row per tool (Allow / Approve / Deny / Hide, or
// left to the default), limits, an argument schema, the default and the
// hide globs; a raw JSON mode on the same document; errors shown at the
// field their JSON pointer names; a diff against the live version before
// saving; the version history, and rollback.

import { h, mount, field, time, badge, empty, status, uid } from "./dom.js";
import { get, put, all, enc, Problem } from "./api.js";
import { diffView } from "./diff.js";

const STATES = [
  ["default", "Default"],
  ["allow", "Allow"],
  ["require_approval", "Approve"],
  ["deny", "Deny"],
  ["hide", "Hide"],
];
const WINDOWS = ["second", "minute", "hour", "day"];
const SCOPES = ["grant", "session", "account", "server"];

const escapePointer = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");

export async function policyPage(ctx, id) {
  const { main } = ctx;
  const mayEdit = ctx.can("ManagePolicies");
  const [server, catalog, versions, members] = await Promise.all([
    get(`/servers/${enc(id)}`),
    get(`/servers/${enc(id)}/tools`),
    all(`/servers/${enc(id)}/policy/versions`),
    get("/members").then((m) => m.items).catch(() => []),
  ]);
  const who = new Map(members.map((m) => [m.user_id, m.email]));
  versions.sort((x, y) => y.version - x.version);
  const live = versions[0] || null;
  const state = {
    doc: structuredClone(live ? live.policy : { version: "1", default: "deny", tools: {} }),
    mode: "builder",
    pointers: new Map(), // JSON pointer -> field wrapper (with showError)
  };
  const editor = h("div", {});
  const review = h("div", { "aria-live": "polite" });
  const say = status();
  const errorList = h("div", { class: "form-error", role: "alert" });

  const tools = catalog.tools.map((t) => t.name);
  const risk = new Map(catalog.tools.map((t) => [t.name, t]));

  function draw() {
    state.pointers = new Map();
    errorList.textContent = "";
    // A role that cannot change the policy sees it, with every control off.
    mount(editor, h("fieldset", { class: "plain", disabled: !mayEdit },
      h("legend", { class: "visually-hidden" }, "The policy"),
      state.mode === "builder" ? builder() : raw()));
  }

  function register(pointer, wrapper) {
    state.pointers.set(pointer, wrapper);
    return wrapper;
  }

  function builder() {
    const doc = state.doc;
    doc.tools = doc.tools || {};
    const def = h("select", { onchange: (e) => { doc.default = e.target.value; } },
      ["deny", "allow"].map((v) => h("option", { value: v, selected: (doc.default || "deny") === v }, v)));
    const hide = h("textarea", { rows: 2, onchange: (e) => {
      const globs = e.target.value.split("\n").map((s) => s.trim()).filter(Boolean);
      if (globs.length) doc.hide = globs; else delete doc.hide;
      draw();
    } }, (doc.hide || []).join("\n"));
    const globKeys = Object.keys(doc.tools).filter((k) => !tools.includes(k));
    return h("div", {},
      h("div", { class: "card" },
        register("/default", field("Default for tools no rule names", def)),
        register("/hide", field("Hide (names or globs, one per line)", hide, "Hidden tools are not listed to agents and their calls are refused."))),
      h("h2", {}, "Tools"),
      tools.length ? null : empty("The catalog has no tools yet: rules for names or globs can be written in the raw JSON mode."),
      h("ul", { class: "rules" }, tools.map((name) => toolRow(name, false)), globKeys.map((k) => toolRow(k, true))));
  }

  function currentState(name) {
    const doc = state.doc;
    if ((doc.hide || []).includes(name)) return "hide";
    const rule = doc.tools[name];
    if (!rule) return "default";
    return rule.action || "allow";
  }

  function setState(name, value) {
    const doc = state.doc;
    doc.hide = (doc.hide || []).filter((g) => g !== name);
    if (!doc.hide.length) delete doc.hide;
    if (value === "hide") {
      doc.hide = [...(doc.hide || []), name];
      delete doc.tools[name];
    } else if (value === "default") {
      delete doc.tools[name];
    } else {
      const rule = doc.tools[name] || {};
      if (value === "allow") delete rule.action; else rule.action = value;
      if (value !== "deny") delete rule.reason;
      // A denied call is refused before its limits or arguments are looked at.
      if (value === "deny") { delete rule.limits; delete rule.arguments; }
      if (value !== "require_approval") delete rule.approval_timeout;
      doc.tools[name] = rule;
    }
    draw();
  }

  function toolRow(name, isPattern) {
    const pointer = `/tools/${escapePointer(name)}`;
    const current = currentState(name);
    const rule = state.doc.tools[name];
    const group = uid("state");
    const info = risk.get(name);
    const radios = h("fieldset", { class: "states" },
      h("legend", { class: "visually-hidden" }, `What agents may do with ${name}`),
      STATES.map(([value, text]) => {
        const label = value === "default" ? `Default (${state.doc.default || "deny"})` : text;
        const input = h("input", { type: "radio", name: group, value, id: `${group}-${value}`, checked: current === value,
          onchange: () => setState(name, value) });
        return h("span", { class: "state" }, input, h("label", { for: input.id }, label));
      }));
    const parts = [];
    if (rule && current === "deny") {
      const reason = h("input", { type: "text", value: rule.reason || "", onchange: (e) => {
        if (e.target.value.trim()) rule.reason = e.target.value.trim(); else delete rule.reason;
      } });
      parts.push(register(`${pointer}/reason`, field(`Reason ${name} is denied (agents see it)`, reason)));
    }
    if (rule && current === "require_approval") {
      const timeout = h("input", { type: "number", min: 1, value: rule.approval_timeout ?? "", placeholder: "300", onchange: (e) => {
        if (e.target.value === "") delete rule.approval_timeout; else rule.approval_timeout = Number(e.target.value);
      } });
      parts.push(register(`${pointer}/approval_timeout`, field(`Approval timeout for ${name} (seconds)`, timeout)));
    }
    if (rule && current !== "deny") {
      parts.push(limitsEditor(name, rule, pointer));
      parts.push(schemaEditor(name, rule, pointer));
    }
    const wrap = register(pointer, h("li", { class: "card rule", "data-rule": name },
      h("div", { class: "tool-head" },
        h("h3", { class: "mono" }, name),
        isPattern ? badge("pattern", "category") : null,
        info ? badge(`${info.risk} risk`, `risk-${info.risk}`) : null,
        info ? badge(info.category, "category") : null),
      radios, parts,
      h("p", { class: "field-error", role: "alert", hidden: true })));
    wrap.showError = (m) => {
      const slot = wrap.querySelector(":scope > .field-error");
      slot.textContent = m || "";
      slot.hidden = !m;
    };
    return wrap;
  }

  function limitsEditor(name, rule, pointer) {
    const limits = rule.limits || [];
    const box = h("fieldset", { class: "limits" }, h("legend", {}, `Limits of ${name}`));
    limits.forEach((limit, i) => {
      const at = `${pointer}/limits/${i}`;
      const num = (key, label, attrs = {}) => {
        const input = h("input", { type: key === "window" ? "text" : "number", value: limit[key] ?? "", ...attrs, onchange: (e) => {
          const v = e.target.value.trim();
          if (v === "") delete limit[key];
          else limit[key] = key === "window" && !/^\d+$/.test(v) ? v : Number(v);
        } });
        return register(`${at}/${key}`, field(label, input));
      };
      const text = (key, label, hint) => {
        const input = h("input", { type: "text", value: limit[key] ?? "", onchange: (e) => {
          const v = e.target.value.trim();
          if (v === "") delete limit[key]; else limit[key] = v;
        } });
        return register(`${at}/${key}`, field(label, input, hint));
      };
      const choose = (key, label, options) => {
        const select = h("select", { onchange: (e) => { limit[key] = e.target.value; } },
          options.map((o) => h("option", { value: o, selected: String(limit[key]) === o }, o)));
        return register(`${at}/${key}`, field(label, select));
      };
      const windowOptions = WINDOWS.includes(String(limit.window)) || limit.window === undefined ? WINDOWS : [String(limit.window), ...WINDOWS];
      box.append(h("div", { class: "limit row" },
        text("counter", `Counter (limit ${i + 1})`),
        choose("window", "Window", windowOptions),
        num("max", "Max", { min: 1 }),
        choose("scope", "Scope", SCOPES),
        text("cost", "Cost (JSON pointer into the arguments)", "Optional, e.g. /amount"),
        h("button", { type: "button", class: "secondary", onclick: () => {
          limits.splice(i, 1);
          if (!limits.length) delete rule.limits;
          draw();
        } }, `Remove limit ${i + 1} of ${name}`)));
      if (limit.window !== undefined && /^\d+$/.test(String(limit.window))) limit.window = Number(limit.window);
    });
    box.append(h("button", { type: "button", class: "secondary", onclick: () => {
      rule.limits = [...limits, { counter: `${name.replace(/[^A-Za-z0-9_]/g, "_")}_calls`, window: "minute", max: 60, scope: "grant" }];
      draw();
    } }, `Add a limit to ${name}`));
    return box;
  }

  function schemaEditor(name, rule, pointer) {
    const area = h("textarea", { rows: 4, spellcheck: "false" }, rule.arguments ? JSON.stringify(rule.arguments, null, 2) : "");
    const wrapper = register(`${pointer}/arguments`, field(`Argument schema for ${name} (JSON Schema; empty for none)`, area));
    area.addEventListener("change", () => {
      const text = area.value.trim();
      if (!text) { delete rule.arguments; wrapper.showError(""); return; }
      try {
        rule.arguments = JSON.parse(text);
        wrapper.showError("");
      } catch (err) {
        wrapper.showError(`Not JSON: ${err.message}`);
      }
    });
    return h("details", { open: rule.arguments ? true : null }, h("summary", {}, `Argument schema of ${name}`), wrapper);
  }

  function raw() {
    const area = h("textarea", { rows: 24, spellcheck: "false", id: "raw-policy" }, JSON.stringify(state.doc, null, 2));
    const wrapper = field("Policy document (JSON)", area);
    area.addEventListener("change", () => {
      try {
        state.doc = JSON.parse(area.value);
        wrapper.showError("");
      } catch (err) {
        wrapper.showError(`Not JSON: ${err.message}`);
      }
    });
    state.rawWrapper = wrapper;
    return wrapper;
  }

  function switchMode(mode) {
    if (mode === state.mode) return;
    if (state.mode === "raw") {
      const area = editor.querySelector("#raw-policy");
      try {
        state.doc = JSON.parse(area.value);
      } catch (err) {
        state.rawWrapper.showError(`Fix the JSON first: ${err.message}`);
        return;
      }
    }
    state.mode = mode;
    modeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
    draw();
  }
  const modeButtons = [["builder", "Builder"], ["raw", "Raw JSON"]].map(([mode, label]) => {
    const b = h("button", { type: "button", class: "secondary", "aria-pressed": String(mode === state.mode), onclick: () => switchMode(mode) }, label);
    b.dataset.mode = mode;
    return b;
  });

  function showErrors(err) {
    const errors = err.errors || [];
    state.pointers.forEach((w) => w.showError && w.showError(""));
    const loose = [];
    for (const e of errors) {
      const pointer = e.pointer ?? e.path ?? "";
      let best = null;
      for (const key of state.pointers.keys()) {
        if ((pointer === key || pointer.startsWith(`${key}/`)) && (best === null || key.length > best.length)) best = key;
      }
      if (best !== null && state.mode === "builder") state.pointers.get(best).showError(`${e.message}`);
      else loose.push(`${pointer || "(document)"}: ${e.message}`);
    }
    if (state.mode === "raw") state.rawWrapper.showError(loose.join("\n") || err.message);
    else errorList.textContent = loose.length ? loose.join(" · ") : errors.length ? "" : err.message;
    const first = editor.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }

  function currentDoc() {
    if (state.mode === "raw") {
      const area = editor.querySelector("#raw-policy");
      state.doc = JSON.parse(area.value);
    }
    return state.doc;
  }

  function reviewChanges(note) {
    let doc;
    try {
      doc = currentDoc();
    } catch (err) {
      state.rawWrapper.showError(`Not JSON: ${err.message}`);
      return;
    }
    const before = live ? JSON.stringify(live.policy, null, 2) : "";
    const after = JSON.stringify(doc, null, 2);
    const save = h("button", { type: "button" }, live ? `Save as version ${live.version + 1}` : "Save as version 1");
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        const saved = await put(`/servers/${enc(id)}/policy`, doc);
        say.say(`Saved version ${saved.version}. Agents get it within a second.`, "ok");
        await policyPage(ctx, id);
        main.querySelector(".status").textContent = `Saved version ${saved.version}. Agents get it within a second.`;
      } catch (err) {
        mount(review);
        if (err instanceof Problem && err.status === 422) showErrors(err);
        else say.say(err.message, "error");
        save.disabled = false;
      }
    });
    mount(review, h("section", { class: "card attention", "aria-labelledby": "diff-h" },
      h("h2", { id: "diff-h", tabindex: "-1" }, live ? `Changes against the live version ${live.version}` : "The first version"),
      note ? h("p", {}, note) : null,
      diffView(before, after),
      h("div", { class: "actions" }, save, h("button", { type: "button", class: "secondary", onclick: () => mount(review) }, "Keep editing"))));
    review.querySelector("h2").focus();
  }

  const recommend = h("button", { type: "button", class: "secondary" }, "Start from the recommended policy");
  recommend.addEventListener("click", async () => {
    try {
      const rec = await get(`/servers/${enc(id)}/policy/recommended`);
      state.doc = rec.policy;
      draw();
      say.say("Loaded the recommended policy: review it, then save.", "ok");
    } catch (err) {
      say.say(err.message, "error");
    }
  });

  const history = h("section", { "aria-labelledby": "ver-h" },
    h("h2", { id: "ver-h" }, "Versions"),
    versions.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "table" },
          h("caption", { class: "visually-hidden" }, "Policy versions"),
          h("thead", {}, h("tr", {}, ["Version", "Saved", "By", ""].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, versions.map((v) => h("tr", {},
            h("td", {}, String(v.version), v === live ? [" ", badge("live", "active")] : null),
            h("td", {}, time(v.created_at)),
            h("td", { class: "wrap" }, v.created_by ? who.get(v.created_by) || `user ${v.created_by}` : "an API key"),
            h("td", {}, v === live || !mayEdit ? null : h("button", { type: "button", class: "secondary", onclick: () => {
              state.doc = structuredClone(v.policy);
              draw();
              reviewChanges(`Rolling back: saving version ${v.version}'s document as the new live version.`);
            } }, `Roll back to version ${v.version}`)))))))
      : empty("No version saved yet: agents see nothing from this server until a policy allows it."));

  mount(main,
    h("p", { class: "crumbs" }, h("a", { href: "/servers" }, "Servers"), " / ", h("a", { href: `/servers/${enc(id)}` }, server.name), " / "),
    h("h1", {}, `Policy of ${server.name}`),
    h("p", {}, live ? ["Live: version ", String(live.version), "."] : "No policy yet."),
    h("div", { class: "actions" }, h("span", { role: "group", "aria-label": "Editing mode", class: "actions" }, modeButtons), mayEdit ? recommend : null),
    mayEdit ? null : h("p", { class: "hint" }, "Your role can read the policy, not change it."),
    say,
    editor,
    errorList,
    mayEdit ? h("div", { class: "actions" }, h("button", { type: "button", onclick: () => reviewChanges() }, "Review changes")) : null,
    review,
    history);
  draw();
}
