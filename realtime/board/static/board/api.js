// The HTTP calls the board makes (docs/protocol.md, "HTTP API"). Each returns
// a plain result with a sentence a person can act on, never a thrown error:
// the board shows that sentence where the action was taken.

const PAGE = 500;

export const STEPS = ["pending", "confirmed", "preparing", "ready", "delivered"];

export function nextStatus(status) {
  const at = STEPS.indexOf(status);
  return at >= 0 && at < STEPS.length - 1 ? STEPS[at + 1] : null;
}

export function isFinal(status) {
  return status === "delivered" || status === "cancelled";
}

async function body(reply) {
  try {
    return await reply.json();
  } catch {
    return {};
  }
}

function unreachable() {
  return { ok: false, reason: "unreachable", message: "Cannot reach the server: check the connection and try again." };
}

function sentence(text) {
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

async function failure(reply) {
  const said = await body(reply);
  const wait = reply.headers.get("Retry-After");
  if (reply.status === 503) {
    return { ok: false, reason: "unavailable", message: `The server is busy: try again ${wait ? `in ${wait} s` : "shortly"}.` };
  }
  if (reply.status === 409 && said.current) {
    return { ok: false, reason: "conflict", message: `Not changed: this order is already ${said.current}.`, current: said.current };
  }
  if (reply.status === 429) {
    return { ok: false, reason: "throttled", message: sentence(`${said.detail || "too many requests"}${wait ? ` (try again in ${wait} s)` : ""}`) };
  }
  return { ok: false, reason: String(reply.status), message: said.detail ? sentence(said.detail) : `Refused (${reply.status}).` };
}

export async function signIn(username, password) {
  let reply;
  try {
    reply = await fetch("/api/token/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    return unreachable();
  }
  if (reply.status === 401) return { ok: false, reason: "credentials", message: "Wrong username or password." };
  if (reply.status === 429) {
    const wait = reply.headers.get("Retry-After");
    return { ok: false, reason: "locked", message: `Too many failed sign-ins: try again${wait ? ` in ${Math.ceil(wait / 60)} min` : " later"}.` };
  }
  if (!reply.ok) return failure(reply);
  return { ok: true, ...(await reply.json()) };
}

// Every order the token may see, page by page; null when the server cannot answer.
export async function fetchOrders(token) {
  const orders = [];
  let after = 0;
  for (let page = 0; page < 1000; page++) {
    let reply;
    try {
      reply = await fetch(`/api/orders/?limit=${PAGE}&after_id=${after}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
    } catch {
      return null;
    }
    if (!reply.ok) return null;
    const batch = await reply.json();
    orders.push(...batch);
    if (batch.length < PAGE) break;
    after = batch[batch.length - 1].id;
  }
  return orders;
}

export async function changeStatus(token, orderId, status) {
  let reply;
  try {
    reply = await fetch(`/api/orders/${orderId}/`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ status }),
    });
  } catch {
    return unreachable();
  }
  if (reply.ok) return { ok: true, order: await reply.json() };
  return failure(reply);
}
