// The order stream as Server-Sent Events (docs/protocol.md, "Server-Sent
// Events"), for networks that refuse WebSocket upgrades. Read with fetch, so
// the token goes in the Authorization header and never into a URL; the
// resume point goes in Last-Event-ID. Each event's data is the same JSON
// frame a WebSocket carries, handed to onFrame; the stream's end, its `close`
// event or a refusal is handed to onClose(code, reason) once.

// Lines end in LF, CR or CRLF; a blank line dispatches; `:` starts a comment.
export class EventStreamDecoder {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.event = "";
  }

  feed(text) {
    const events = [];
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A CR at the very end may be the first half of a CRLF still to come.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  line(line) {
    if (line === "") {
      const event = this.data.length ? { event: this.event || "message", data: this.data.join("\n") } : null;
      this.data = [];
      this.event = "";
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.data.push(value);
    else if (name === "event") this.event = value;
    return null;
  }
}

// What an HTTP refusal stands for, as the close code a WebSocket would get.
function refusal(status, said) {
  if (Number.isInteger(said.code)) return said.code;
  if (status === 401) return 4401;
  if (status === 429 || status >= 500) return 1013;
  return 4403;
}

export class OrdersStream {
  constructor({ url, token, lastEventId, onFrame, onClose }) {
    Object.assign(this, { onFrame, onClose });
    this.controller = new AbortController();
    this.ended = false;
    this.run(url, token, lastEventId);
  }

  async run(url, token, lastEventId) {
    const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    if (lastEventId !== null && lastEventId !== undefined) headers["Last-Event-ID"] = String(lastEventId);
    let reply;
    try {
      reply = await fetch(url, { headers, cache: "no-store", signal: this.controller.signal });
    } catch {
      this.end(1006, "stream failed");
      return;
    }
    if (!reply.ok) {
      let said = {};
      try {
        said = await reply.json();
      } catch {
        said = {};
      }
      this.end(refusal(reply.status, said), said.detail || `refused with HTTP ${reply.status}`);
      return;
    }
    const reader = reply.body.getReader();
    const decoder = new TextDecoder();
    const events = new EventStreamDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of events.feed(decoder.decode(value, { stream: true }))) {
          const frame = JSON.parse(event.data);
          if (event.event === "close") {
            this.end(frame.code, frame.reason);
            return;
          }
          this.onFrame(frame);
        }
      }
    } catch {
      // Aborted, or the connection dropped: either way the stream ended.
    }
    this.end(1006, "stream ended");
  }

  end(code, reason) {
    if (this.ended) return;
    this.ended = true;
    this.controller.abort();
    this.onClose(code, reason);
  }

  close() {
    this.end(1000, "closed by the board");
  }
}
