// The customer view, an order tracker: each of the customer's orders, newest
// first, with its progress through pending → delivered (or cancelled), its
// items and when it last changed.

import { STEPS, isFinal } from "/board/api.js";
import { act, cancelControls, clock, el, itemList, title } from "/board/elements.js";

export class Tracker {
  constructor(root, { token, apply, announce }) {
    Object.assign(this, { root, token, apply, announce });
    this.list = root.querySelector("#my-orders");
    this.empty = root.querySelector("#no-orders");
    this.items = new Map(); // order id -> element
  }

  show(order, live) {
    let item = this.items.get(order.id);
    const focused = item && item.contains(document.activeElement);
    if (!item) {
      item = el("li", { class: "order", id: `order-${order.id}`, tabindex: "-1", "aria-labelledby": `order-${order.id}-title` });
      item.dataset.orderId = order.id;
      this.items.set(order.id, item);
      const before = [...this.list.children].find((other) => Number(other.dataset.orderId) < order.id);
      this.list.insertBefore(item, before || null);
      this.empty.hidden = true;
    }
    const problem = item.querySelector(".problem")?.textContent || "";
    const moved = item.dataset.status !== order.status;
    item.dataset.status = order.status;
    item.replaceChildren(...this.contents(order, item));
    item.querySelector(".problem").textContent = problem;
    if (focused) item.focus();
    if (live && moved) this.announce(`Your order ${order.id} is ${order.status}.`);
  }

  contents(order, item) {
    const reached = STEPS.indexOf(order.status);
    const steps = el("ol", {
      class: "steps",
      "aria-label": reached >= 0 ? `Progress: step ${reached + 1} of ${STEPS.length}` : "Progress: cancelled",
    }, ...STEPS.map((step, at) => {
      const li = el("li", { text: title(step) });
      if (at <= reached) li.classList.add("done");
      if (at === reached) li.setAttribute("aria-current", "step");
      return li;
    }));
    const parts = [
      el("h3", { id: `order-${order.id}-title` },
        el("span", { text: `Order #${order.id}` }),
        el("span", { class: "when" }, "updated ", clock(order.updated_at))),
      el("p", { class: "state", text: title(order.status) }),
      steps,
      itemList(order),
    ];
    if (!isFinal(order.status)) {
      const { ask, question } = cancelControls(order.id, () => act(item, this.token, "cancelled", this.apply));
      parts.push(el("div", { class: "actions" }, ask), question);
    }
    parts.push(el("p", { class: "problem", role: "alert" }));
    return parts;
  }
}
