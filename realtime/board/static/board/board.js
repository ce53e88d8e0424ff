// The live order board: a table of the orders this token may see, kept current
// by OrdersConnection, with the connection state and the last seq on show.

import { OrdersConnection } from "/board/connection.js";

const rows = new Map(); // order id -> order
const table = document.querySelector("#orders tbody");
const statusEl = document.querySelector("#status");
const seqEl = document.querySelector("#seq");

function claims(token) {
  const part = token.split(".")[1] || "";
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

function render(order, changed) {
  let row = document.getElementById(`order-${order.id}`);
  if (!row) {
    row = document.createElement("tr");
    row.id = `order-${order.id}`;
    row.innerHTML = "<td></td><td></td><td data-status></td><td></td><td></td>";
    table.prepend(row);
  }
  const items = (order.items || []).map((i) => `${i.qty}× ${i.name}`).join(", ");
  const updated = new Date(order.updated_at).toLocaleTimeString();
  [order.id, order.owner, order.status, items, updated].forEach((value, i) => {
    row.cells[i].textContent = value;
  });
  row.cells[2].dataset.status = order.status;
  if (changed) {
    row.classList.remove("changed");
    void row.offsetWidth;
    row.classList.add("changed");
  }
}

function apply(order, changed) {
  const known = rows.get(order.id);
  if (known && known.version >= order.version) return;
  rows.set(order.id, order);
  render(order, changed);
}

async function loadOrders(token) {
  let after = 0;
  for (let page = 0; page < 1000; page++) {
    const reply = await fetch(`/api/orders/?limit=500&after_id=${after}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (!reply.ok) return;
    const orders = await reply.json();
    orders.forEach((order) => apply(order, false));
    if (orders.length < 500) return;
    after = orders[orders.length - 1].id;
  }
}

function showState(state, detail) {
  statusEl.dataset.state = state;
  if (state === "connected") statusEl.textContent = "connected";
  else if (state === "reconnecting") statusEl.textContent = `reconnecting in ${detail.seconds.toFixed(1)} s`;
  else statusEl.textContent = `offline${detail && detail.reason ? ` (${detail.reason})` : ""}`;
}

function start(token) {
  let staff = false;
  try {
    staff = Boolean(claims(token).staff);
  } catch {
    staff = false;
  }
  const connection = new OrdersConnection({
    token,
    staff,
    onUpdate: (frame) => {
      apply(frame.order, true);
      seqEl.textContent = frame.seq;
    },
    onState: (state, detail) => {
      showState(state, detail);
      if (state === "offline" && detail.code === 4401) {
        sessionStorage.removeItem("token");
        showLogin("Your session has expired; sign in again.");
      }
    },
    onResync: () => loadOrders(connection.token),
    onToken: (fresh) => sessionStorage.setItem("token", fresh),
  });
  window.addEventListener("offline", () => showState("offline", { reason: "no network" }));
  connection.start();
}

function showLogin(message = "") {
  const form = document.querySelector("#login");
  form.hidden = false;
  document.querySelector("#login-error").textContent = message;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const reply = await fetch("/api/token/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data),
    });
    if (!reply.ok) {
      document.querySelector("#login-error").textContent =
        reply.status === 429 ? "Too many failed sign-ins: try again later." : "Wrong username or password.";
      return;
    }
    const { token } = await reply.json();
    sessionStorage.setItem("token", token);
    form.hidden = true;
    start(token);
  };
}

const fromUrl = new URLSearchParams(location.search).get("token");
if (fromUrl) {
  sessionStorage.setItem("token", fromUrl);
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("token");
if (token) start(token);
else showLogin();
