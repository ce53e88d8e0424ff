// The order board (docs/board.md): signs in (or takes `/?token=` from a kiosk),
// then shows the kitchen display to staff and the order tracker to customers,
// both kept current by OrdersConnection, with the connection pill and last seq.

import { fetchOrders, signIn } from "/board/api.js";
import { OrdersConnection } from "/board/connection.js";
import { Kitchen } from "/board/kitchen.js";
import { Tracker } from "/board/tracker.js";

const statusEl = document.querySelector("#status");
const seqEl = document.querySelector("#seq");
const announcer = document.querySelector("#announce");
const signOut = document.querySelector("#sign-out");

const REASONS = {
  1008: "refused by the server",
  1009: "message too big",
  4400: "bad request",
  4401: "session expired",
  4403: "not allowed",
};

function claims(token) {
  try {
    const part = token.split(".")[1] || "";
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

function announce(text) {
  announcer.textContent = text;
}

const TRANSPORTS = { websocket: "WebSocket", sse: "event stream" };

function showState(state, detail = {}) {
  statusEl.dataset.state = state;
  if (detail.transport) statusEl.dataset.transport = detail.transport;
  if (state === "reconnecting") statusEl.textContent = `reconnecting in ${Math.ceil(detail.seconds)} s`;
  else if (state === "connected" && detail.transport) statusEl.textContent = `connected (${TRANSPORTS[detail.transport]})`;
  else if (state === "offline") statusEl.textContent = `offline: ${detail.reason || REASONS[detail.code] || "disconnected"}`;
  else statusEl.textContent = state.replace("-", " ");
}

// Signing out starts the page afresh, so no card or timer outlives the session.
function end(connection) {
  connection.stop();
  sessionStorage.removeItem("token");
  location.replace(location.pathname);
}

// Why a 4401 ended the page: a link's token the server never took is not a session that ended.
function endedBecause(reason, fromLink, wasConnected) {
  if (wasConnected || !fromLink) return "Your session has ended: sign in again.";
  if (/expired/.test(reason || "")) return "This link's token has expired: sign in.";
  return "This link's token is not valid: sign in.";
}

function start(token, fromLink = false) {
  const who = claims(token);
  let wasConnected = false;
  const staff = Boolean(who.staff);
  const orders = new Map(); // order id -> newest version seen
  let connection;
  const apply = (order, live = false) => {
    const known = orders.get(order.id);
    if (known && known.version >= order.version) return;
    orders.set(order.id, order);
    view.show(order, live);
  };
  const options = { token: () => connection.token, apply, announce };
  const view = staff
    ? new Kitchen(document.querySelector("#kitchen"), options)
    : new Tracker(document.querySelector("#tracker"), options);
  view.root.hidden = false;
  document.querySelector("#title").textContent = staff ? "Kitchen" : `Orders for ${who.name || "you"}`;
  signOut.hidden = false;
  signOut.onclick = () => end(connection);
  connection = new OrdersConnection({
    token,
    staff,
    onUpdate: (frame) => {
      apply(frame.order, true);
      seqEl.textContent = frame.seq;
    },
    onState: (state, detail) => {
      showState(state, detail);
      if (state === "connected") {
        wasConnected = true;
        seqEl.textContent = Math.max(Number(seqEl.textContent) || 0, detail.cursor);
      }
      if (state === "offline" && detail.code === 4401) {
        sessionStorage.setItem("signin.message", endedBecause(detail.reason, fromLink, wasConnected));
        end(connection);
      }
    },
    onResync: async () => {
      const all = await fetchOrders(connection.token);
      if (all === null) announce("Could not load the orders: they will load on reconnect.");
      else all.forEach((order) => apply(order));
    },
    onToken: (fresh) => sessionStorage.setItem("token", fresh),
  });
  window.addEventListener("offline", () => showState("offline", { reason: "no network" }));
  connection.start();
}

function showLogin(message = "") {
  const form = document.querySelector("#login");
  const error = document.querySelector("#login-error");
  const button = form.querySelector("button");
  form.hidden = false;
  error.textContent = message;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    button.disabled = true;
    error.textContent = "";
    const result = await signIn(data.username, data.password);
    button.disabled = false;
    if (!result.ok) {
      error.textContent = result.message;
      return;
    }
    sessionStorage.setItem("token", result.token);
    form.hidden = true;
    start(result.token);
  };
  form.querySelector("input").focus();
}

const fromUrl = new URLSearchParams(location.search).get("token");
if (fromUrl) {
  sessionStorage.setItem("token", fromUrl);
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("token");
showState("signed-out");
if (fromUrl && !claims(fromUrl).sub) {
  // Not even shaped like a token: no need to ask the server.
  sessionStorage.removeItem("token");
  showLogin(endedBecause("", true, false));
} else if (token) start(token, Boolean(fromUrl));
else {
  showLogin(sessionStorage.getItem("signin.message") || "");
  sessionStorage.removeItem("signin.message");
}
