// The REST client: the session is the HttpOnly cookie; every state change
// echoes the CSRF cookie in X-CSRF-Token. Errors are problem+json.

export class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.errors = (body && body.errors) || [];
  }
}

function csrf() {
  const entry = document.cookie.split("; ").find((c) => c.startsWith("toolgate_csrf="));
  return entry ? entry.slice("toolgate_csrf=".length) : "";
}

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf();
  const response = await fetch(`/v1${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/session") && !path.startsWith("/signup")) onSignedOut();
    throw new Problem(response.status, data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export const enc = encodeURIComponent;

/** Every page of a cursor-paginated list, up to `max` items. */
export async function all(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${enc(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
