// The board's connection to /ws/orders/ (docs/protocol.md): heartbeats
// answered, a silence watchdog, reconnects with exponential backoff and full
// jitter, and every scope resumed from the last seq in the URL
// (?scopes=all&since=N), so no update is missed or repeated. The token goes
// in the first frame (`auth`), never in the URL, where proxies' access logs
// would keep it. It is renewed before it expires (POST /api/token/refresh/,
// then another `auth` frame), so a board left open does not sign out.
//
// Where WebSockets are refused (two handshakes in a row fail while HTTP
// works), it moves to /sse/orders/ for the rest of the page's life, with the
// same frames, resume point (Last-Event-ID) and close codes; a renewed token
// reconnects the stream there, which has no client frames.

import { OrdersStream } from "/board/stream.js";

const STOP = new Set([1009, 4400, 4401, 4403]);
const FALLBACK_AFTER = 2; // WebSocket handshakes failed in a row
const BACK_OFF = new Set([1011, 1013, 4429]);
const RENEW_MARGIN = 10; // seconds before expiry
const RENEW_RETRY = 5;

// When to renew: after 80 % of the time left, and at least RENEW_MARGIN s before expiry.
export function renewDelay(expiresAt, now = Date.now() / 1000) {
  const left = expiresAt - now;
  return Math.max(0, Math.min(left * 0.8, left - RENEW_MARGIN));
}

export function backoffDelay(attempt, base = 0.5, cap = 10) {
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 32));
}

export class OrdersConnection {
  constructor({ token, staff, onUpdate, onState, onResync, onToken }) {
    Object.assign(this, { token, staff, onUpdate, onState, onResync, onToken });
    this.cursor = null; // resume point: every event up to it has arrived
    this.highWater = 0; // highest seq held, for acks
    this.attempt = 0;
    this.transport = "websocket";
    this.failedHandshakes = 0;
  }

  start() {
    if (this.stopped) return;
    this.onState("connecting", { transport: this.transport });
    if (this.transport === "sse") this.startStream();
    else this.startSocket();
    this.watch(10);
  }

  startSocket() {
    const params = new URLSearchParams();
    if (this.staff) params.set("scopes", "all");
    if (this.cursor !== null) params.set("since", this.cursor);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = params.toString();
    const ws = new WebSocket(`${scheme}://${location.host}/ws/orders/${query ? `?${query}` : ""}`);
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify({ type: "auth", token: this.token }));
    };
    ws.onmessage = (event) => this.receive(ws, JSON.parse(event.data));
    ws.onclose = (event) => this.closed(ws, event.code, event.reason, opened);
  }

  startStream() {
    const params = new URLSearchParams();
    if (this.staff) params.set("scopes", "all");
    const query = params.toString();
    const stream = new OrdersStream({
      url: `/sse/orders/${query ? `?${query}` : ""}`,
      token: this.token,
      lastEventId: this.cursor,
      onFrame: (frame) => this.receive(stream, frame),
      onClose: (code, reason) => this.closed(stream, code, reason, true),
    });
    this.ws = stream;
  }

  // Closes for good (signing out): no reconnect, no renewal.
  stop() {
    this.stopped = true;
    const ws = this.ws;
    this.ws = null;
    for (const timer of [this.watchdog, this.renewal, this.countdown]) clearTimeout(timer);
    if (ws) ws.close(1000, "signed out");
  }

  watch(seconds) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.ws && this.ws.close(), seconds * 1000);
  }

  send(frame) {
    const ws = this.ws;
    if (ws instanceof WebSocket && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  receive(ws, frame) {
    if (ws !== this.ws) return;
    if (this.interval) this.watch(2 * this.interval);
    switch (frame.type) {
      case "welcome":
        this.interval = frame.heartbeat_interval;
        this.attempt = 0;
        this.scheduleRenewal(frame.expires_at);
        this.watch(2 * this.interval);
        if (this.cursor === null) {
          this.cursor = this.highWater = frame.cursor;
          this.onResync(frame.cursor);
        }
        this.onState("connected", { cursor: this.cursor, transport: this.transport });
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
        this.onState("connected", { cursor: this.cursor, transport: this.transport });
        break;
      case "authenticated":
        this.scheduleRenewal(frame.expires_at);
        break;
      case "resync_required":
        this.cursor = frame.cursor;
        this.onResync(frame.cursor);
        break;
    }
  }

  scheduleRenewal(expiresAt) {
    clearTimeout(this.renewal);
    if (typeof expiresAt !== "number") return;
    this.renewal = setTimeout(() => this.renew(), renewDelay(expiresAt) * 1000);
  }

  async renew() {
    let reply;
    try {
      reply = await fetch("/api/token/refresh/", {
        method: "POST",
        headers: { Authorization: `Bearer ${this.token}` },
      });
    } catch {
      this.renewal = setTimeout(() => this.renew(), RENEW_RETRY * 1000);
      return;
    }
    if (reply.status === 401) return; // the server closes with 4401 at expiry
    if (!reply.ok) {
      this.renewal = setTimeout(() => this.renew(), RENEW_RETRY * 1000);
      return;
    }
    const { token } = await reply.json();
    this.token = token;
    if (this.onToken) this.onToken(token);
    if (this.stopped) return;
    if (this.transport === "sse") this.reconnectNow();
    else this.send({ type: "auth", token });
  }

  // A stream takes a renewed token by reconnecting where it left off.
  reconnectNow() {
    const stream = this.ws;
    this.ws = null;
    if (stream) stream.close();
    this.start();
  }

  async closed(ws, code, reason, opened) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.watchdog);
    clearTimeout(this.renewal);
    if (STOP.has(code)) {
      this.onState("offline", { code, reason });
      return;
    }
    if (this.transport === "websocket") {
      this.failedHandshakes = opened ? 0 : this.failedHandshakes + 1;
      if (this.failedHandshakes >= FALLBACK_AFTER && (await this.httpWorks())) {
        this.transport = "sse";
        this.start();
        return;
      }
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

  async httpWorks() {
    try {
      return (await fetch("/health/live", { cache: "no-store" })).ok;
    } catch {
      return false;
    }
  }
}
