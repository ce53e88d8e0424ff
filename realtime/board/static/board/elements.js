// Pieces both views build orders from: the item list, times, and the cancel
// button with its confirmation step.

import { changeStatus } from "/board/api.js";

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function itemList(order) {
  return el("ul", { class: "items" }, ...(order.items || []).map((item) => el("li", { text: `${item.qty}× ${item.name}` })));
}

export function age(since, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export function clock(iso) {
  return el("time", { datetime: iso, text: new Date(iso).toLocaleTimeString() });
}

export function title(status) {
  return `${status[0].toUpperCase()}${status.slice(1)}`;
}

// Runs a status change from a card: its buttons are disabled meanwhile, and a
// refusal (409, 503, no network) is said on the card until the next action.
export async function act(card, token, status, onChanged) {
  const buttons = [...card.querySelectorAll("button")];
  const hadFocus = card.contains(document.activeElement);
  card.querySelector(".problem").textContent = "";
  buttons.forEach((button) => (button.disabled = true));
  const result = await changeStatus(token(), Number(card.dataset.orderId), status);
  buttons.forEach((button) => (button.disabled = false));
  if (result.ok) onChanged(result.order);
  else card.querySelector(".problem").textContent = result.message;
  // A disabled or re-rendered button drops focus; a keyboard user keeps their place.
  if (hadFocus && !card.contains(document.activeElement)) (card.querySelector("button.primary") || card).focus();
}

// "Cancel" asks first; "Yes, cancel" does it, "Keep" puts the question away.
export function cancelControls(orderId, onCancel) {
  const ask = el("button", { type: "button", class: "danger", "aria-label": `Cancel order ${orderId}`, text: "Cancel" });
  const yes = el("button", { type: "button", class: "danger", text: "Yes, cancel" });
  const keep = el("button", { type: "button", text: "Keep" });
  const question = el("div", { class: "actions confirm", role: "group", "aria-label": `Cancel order ${orderId}?` },
    el("span", { text: `Cancel order ${orderId}?` }), yes, keep);
  question.hidden = true;
  ask.onclick = () => {
    ask.hidden = true;
    question.hidden = false;
    keep.focus();
  };
  keep.onclick = () => {
    question.hidden = true;
    ask.hidden = false;
    ask.focus();
  };
  yes.onclick = async () => {
    await onCancel();
    question.hidden = true;
    ask.hidden = false;
  };
  return { ask, question };
}
