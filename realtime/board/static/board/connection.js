// The board's connection to /ws/orders/ (docs/protocol.md): heartbeats
// answered, a silence watchdog, reconnects with exponential backoff and full
// jitter, and every scope resumed from the last seq in the URL
// (?scopes=all&since=N), so no update is missed or repeated.

const STOP = new Set([1009, 4400, 4401, 4403]);
const BACK_OFF = new Set([1011, 1013, 4429]);

export function backoffDelay(attempt, base = 0.5, cap = 10) {
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 32));
}

export class OrdersConnection {
  constructor({ token, staff, onUpdate, onState, onResync }) {
    Object.assign(this, { token, staff, onUpdate, onState, onResync });
    this.cursor = null; // resume point: every event up to it has arrived
    this.highWater = 0; // highest seq held, for acks
    this.attempt = 0;
  }

  start() {
    const params = new URLSearchParams({ token: this.token });
    if (this.staff) params.set("scopes", "all");
    if (this.cursor !== null) params.set("since", this.cursor);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/orders/?${params}`);
    this.ws = ws;
    ws.onmessage = (event) => this.receive(ws, JSON.parse(event.data));
    ws.onclose = (event) => this.closed(ws, event.code, event.reason);
    this.watch(10);
  }

  watch(seconds) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.ws && this.ws.close(), seconds * 1000);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  receive(ws, frame) {
    if (ws !== this.ws) return;
    if (this.interval) this.watch(2 * this.interval);
    switch (frame.type) {
      case "welcome":
        this.interval = frame.heartbeat_interval;
        this.attempt = 0;
        this.watch(2 * this.interval);
        if (this.cursor === null) {
          this.cursor = this.highWater = frame.cursor;
          this.onResync(frame.cursor);
        }
        this.onState("connected", { cursor: this.cursor });
        break;
      case "heartbeat":
        this.send({ type: "heartbeat_ack", ts: frame.ts, cursor: this.highWater });
        break;
      case "order.update":
        this.highWater = Math.max(this.highWater, frame.seq);
        this.cursor = Math.max(this.cursor, frame.seq);
        this.onUpdate(frame);
        break;
      case "resumed":
        this.cursor = Math.max(this.cursor, frame.cursor, this.highWater);
        this.onState("connected", { cursor: this.cursor });
        break;
      case "resync_required":
        this.cursor = frame.cursor;
        this.onResync(frame.cursor);
        break;
    }
  }

  closed(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.watchdog);
    if (STOP.has(code)) {
      this.onState("offline", { code, reason });
      return;
    }
    if (BACK_OFF.has(code)) this.attempt = Math.max(this.attempt, 3);
    const delay = backoffDelay(this.attempt++);
    const until = Date.now() + delay * 1000;
    const tick = () => {
      const left = Math.max(0, (until - Date.now()) / 1000);
      this.onState("reconnecting", { code, seconds: left });
      if (left > 0) this.countdown = setTimeout(tick, 100);
      else this.start();
    };
    tick();
  }
}
