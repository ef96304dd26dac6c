// Shows a problem+json answer: each error at the field its JSON pointer
// names, the rest in the form's alert.

export function showProblem(err, fields, alert) {
  for (const f of Object.values(fields)) f.showError("");
  const errors = (err && err.errors) || [];
  const loose = [];
  for (const e of errors) {
    const pointer = e.pointer ?? e.path ?? "";
    const target = fields[pointer] || fields[closest(pointer, fields)];
    if (target) target.showError(appendMessage(target, e.message));
    else loose.push(pointer ? `${pointer}: ${e.message}` : e.message);
  }
  if (!errors.length || loose.length) {
    alert.textContent = [errors.length ? "" : err.message, ...loose].filter(Boolean).join(" · ");
  }
}

function appendMessage(target, message) {
  const current = target.querySelector(".field-error").textContent;
  return current ? `${current} · ${message}` : message;
}

/** The longest field pointer that is a prefix of this one. */
function closest(pointer, fields) {
  let best = null;
  for (const key of Object.keys(fields)) {
    if (key && (pointer === key || pointer.startsWith(`${key}/`)) && (!best || key.length > best.length)) best = key;
  }
  return best;
}
