// The staff view, a kitchen display: a column per active status (oldest order
// first), delivered and cancelled folded to their most recent few, a button on
// each card for the next step and one to cancel, and a search by id or customer.

import { STEPS, isFinal, nextStatus } from "/board/api.js";
import { act, age, cancelControls, el, itemList, title } from "/board/elements.js";

const ACTIVE = STEPS.slice(0, -1);
const FINISHED = ["delivered", "cancelled"];

const RECENT = 5; // delivered or cancelled cards kept on show
const HIGHLIGHT_MS = 6000;

export class Kitchen {
  constructor(root, { token, apply, announce }) {
    Object.assign(this, { root, token, apply, announce });
    root.querySelector(".columns").append(...ACTIVE.map(activeColumn));
    root.querySelector(".finished").append(...FINISHED.map(finishedColumn));
    this.cards = new Map(); // order id -> card element
    this.counts = new Map(); // status -> orders in it, trimmed ones included
    this.query = "";
    this.search = root.querySelector("#search");
    this.sound = root.querySelector("#sound");
    this.search.oninput = () => this.filter(this.search.value);
    this.sound.checked = localStorage.getItem("board.sound") === "on";
    this.sound.onchange = () => localStorage.setItem("board.sound", this.sound.checked ? "on" : "off");
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  column(status) {
    return this.root.querySelector(`[data-column="${status}"]`);
  }

  show(order, live) {
    let card = this.cards.get(order.id);
    const focused = card && card.contains(document.activeElement);
    const created = !card;
    if (created) {
      card = el("li", { class: "card", id: `order-${order.id}`, tabindex: "-1", "aria-labelledby": `order-${order.id}-title` });
      card.dataset.orderId = order.id;
      this.cards.set(order.id, card);
    }
    const problem = card.querySelector(".problem")?.textContent || "";
    const previous = card.dataset.status;
    const moved = previous !== order.status;
    if (moved) this.count(previous, order.status);
    card.dataset.status = order.status;
    card.dataset.owner = order.owner.toLowerCase();
    card.dataset.created = order.created_at;
    card.replaceChildren(...this.contents(order, card));
    card.querySelector(".problem").textContent = problem;
    if (moved) this.place(card, order);
    this.match(card);
    if (focused) (card.querySelector("button.primary") || card).focus();
    if (live && created && order.version === 1) this.arrived(card, order);
    else if (live && moved) this.announce(`Order ${order.id} is now ${order.status}.`);
  }

  contents(order, card) {
    const next = nextStatus(order.status);
    const actions = el("div", { class: "actions" });
    const parts = [
      el("h3", { id: `order-${order.id}-title` },
        el("span", { text: `#${order.id} · ${order.owner}` }),
        el("span", { class: "age", title: "age", text: age(order.created_at) })),
      itemList(order),
      actions,
    ];
    if (next) {
      const advance = el("button", { type: "button", class: "primary", "aria-label": `Mark ${next}, order ${order.id}`, text: `Mark ${next}` });
      advance.onclick = () => act(card, this.token, next, this.apply);
      actions.append(advance);
    }
    if (!isFinal(order.status)) {
      const { ask, question } = cancelControls(order.id, () => act(card, this.token, "cancelled", this.apply));
      actions.append(ask);
      parts.push(question);
    }
    parts.push(el("p", { class: "problem", role: "alert" }));
    return parts;
  }

  // Active columns run oldest first; the final ones newest first, trimmed.
  place(card, order) {
    const list = this.column(order.status).querySelector("ol");
    const final = isFinal(order.status);
    const before = [...list.children].find((other) =>
      final ? Number(other.dataset.orderId) < order.id : Number(other.dataset.orderId) > order.id,
    );
    list.insertBefore(card, before || null);
    if (final) {
      for (const extra of [...list.children].slice(RECENT)) {
        extra.remove();
        this.cards.delete(Number(extra.dataset.orderId));
      }
    }
  }

  count(from, to) {
    for (const [status, change] of [[from, -1], [to, 1]]) {
      if (!status) continue;
      this.counts.set(status, (this.counts.get(status) || 0) + change);
      this.column(status).querySelector(".count").textContent = this.counts.get(status);
    }
  }

  arrived(card, order) {
    card.classList.add("new");
    setTimeout(() => card.classList.remove("new"), HIGHLIGHT_MS);
    this.announce(`New order ${order.id} from ${order.owner}.`);
    if (this.sound.checked) chime();
  }

  filter(query) {
    this.query = query.trim().toLowerCase();
    this.cards.forEach((card) => this.match(card));
  }

  match(card) {
    const q = this.query.replace(/^#/, "");
    card.hidden = Boolean(q) && card.dataset.orderId !== q && !card.dataset.owner.includes(q);
  }

  tick() {
    const now = Date.now();
    this.cards.forEach((card) => {
      card.querySelector(".age").textContent = age(card.dataset.created, now);
    });
  }
}

function activeColumn(status) {
  return el("section", { class: "column", "data-column": status, "aria-labelledby": `h-${status}` },
    el("h2", { id: `h-${status}` }, `${title(status)} `, el("span", { class: "count", text: "0" })),
    el("ol"));
}

// Delivered and cancelled orders pile up: folded until asked for.
function finishedColumn(status) {
  return el("details", { class: "column", "data-column": status },
    el("summary", {}, `${title(status)} `, el("span", { class: "count", text: "0" })),
    el("ol"));
}

// A short tone through Web Audio: no sound file to serve.
function chime() {
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.setValueAtTime(0.2, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.4);
  tone.onended = () => audio.close();
}
