// The connection: one session from Join to the final close, across reconnects. It opens the
// WebSocket, sends the Hello (naming the game and its schema version), decodes every message
// with the game's codec, and on an abnormal close reconnects with the resume token, with backoff,
// for as long as the server holds the player. In a cluster it follows a Redirect to the node that
// owns the room (with the seat it was given), and after a 1012 (the node went away) joins again
// through the address it started from. DOM-free: the page passes its WebSocket, clock and
// handlers in, and tests pass fakes.

import { CLOSE, closeMessage, closeName } from "./protocol.js";

/** Close codes after which the client reconnects with its resume token. */
export const RECONNECT_CODES = new Set([1006, CLOSE.TIMEOUT, CLOSE.TOO_SLOW, CLOSE.INTERNAL_ERROR]);
/** Delays before reconnect attempts (the last repeats), each jittered by ±20%. */
export const BACKOFF_MS = [250, 500, 1000, 2000, 3000];
/** How long the server holds a dropped player by default (assets/server.toml resume_grace_s). */
export const DEFAULT_GRACE_MS = 15_000;
/** Redirects followed in a row at most. */
export const REDIRECTS_MAX = 3;

/**
 * What to do when a connection closed with `code`: "end" the session, "rejoin" afresh (the
 * resume failed: the server no longer holds the player), or "retry" with the resume token.
 */
export function closeAction({ code, leaving, resuming, everWelcomed, droppedForMs, graceMs, redirected }) {
  if (leaving) return "end";
  if (code === CLOSE.REDIRECT && redirected) return "redirect";
  // The node went away (drained, or lost the room after a stall): join again from the start.
  if (code === CLOSE.SERVICE_RESTART) return "rejoin";
  if (code === CLOSE.RESUME_FAILED && resuming) return "rejoin";
  // A resume can also meet its own old connection still holding the session token (4010) until
  // the server notices that connection is gone: retry that too.
  const retry = RECONNECT_CODES.has(code) || (resuming && code === CLOSE.TOKEN_IN_USE);
  return retry && everWelcomed && droppedForMs < graceMs ? "retry" : "end";
}

/** The sentence for a session that ended with `code`. */
export function endText(code, everWelcomed) {
  if (code === 1006 && !everWelcomed) return "Could not reach the server. Check the address and try again.";
  if (code === 1006) return "The connection was lost and could not be restored.";
  return closeMessage(code);
}

/**
 * One session. Handlers (all optional but `welcome` and `message`):
 *   state(state, text)   the connection state changed: idle, connecting, connected,
 *                        reconnecting, closed
 *   welcome(welcome)     a Welcome arrived (first join, rejoin or resume: see welcome.resumed)
 *   message(msg)         any other decoded server message but Error
 *   linkClosed()         the WebSocket closed (before the session decides what to do)
 *   notice(text, bad)    something to tell the player (a banner)
 *   system(text)         a line for the chat log
 *   ended(closed)        the session is over: {code, reason, text, everWelcomed, reconnects}
 * `env` is {WebSocket, now, setTimeout, clearTimeout, random} (the browser's by default).
 */
export class Session {
  constructor({ url, codec, options, graceMs = DEFAULT_GRACE_MS, handlers, env = globalThis }) {
    this.url = url;
    /** The address the session started from (a node that matchmakes), for a rejoin. */
    this.startUrl = url;
    /** A seat to present in the next Hello (after a Redirect), then forgotten. */
    this.seat = null;
    this.redirects = 0;
    this.codec = codec;
    /** {name, room, spectate, token}: what the player asked for in the join form. */
    this.options = options;
    this.graceMs = graceMs;
    this.handlers = handlers;
    this.env = {
      WebSocket: env.WebSocket,
      now: env.now ?? (() => env.performance.now()),
      setTimeout: env.setTimeout.bind(env),
      clearTimeout: env.clearTimeout.bind(env),
      random: env.random ?? Math.random,
    };
    this.link = null;
    this.resumeToken = null;
    this.leaving = false;
    this.droppedAt = null;
    this.attempt = 0;
    this.reconnectTimer = null;
    this.everWelcomed = false;
    /** Connections resumed so far. */
    this.reconnects = 0;
    /** The last close: {code, reason} (null before any). */
    this.lastClose = null;
    /** The end of the session: {code, reason, text} (null while it lasts). */
    this.closed = null;
    this.bytesIn = 0;
    this.bytesOut = 0;
  }

  /** Whether the player joined as a spectator (the Hello's flag: the game decides the rest). */
  get spectator() {
    return this.options.spectate;
  }

  /** Whether a connection is open and welcomed. */
  get connected() {
    return this.link !== null && this.link.welcomed && this.link.socket.readyState === 1;
  }

  start() {
    this.connect(false);
  }

  /** Encodes and sends a client message; false when there is no open connection. */
  send(message) {
    const link = this.link;
    if (link === null || link.socket.readyState !== 1) return false;
    const bytes = this.codec.encodeClient(message);
    link.socket.send(bytes);
    this.bytesOut += bytes.length;
    return true;
  }

  /** Leaves the game: a normal close, no reconnect. */
  leave() {
    if (this.closed !== null) return;
    this.leaving = true;
    this.env.clearTimeout(this.reconnectTimer);
    if (this.link !== null && this.link.socket.readyState <= 1) this.link.socket.close(1000, "left");
    else this.end(CLOSE.NORMAL, "");
  }

  connect(resume) {
    let socket;
    try {
      socket = new this.env.WebSocket(this.url);
    } catch (error) {
      // Only a malformed ?server= address gets here.
      this.link = null;
      this.end(1006, `bad server address ${this.url}: ${error.message}`);
      return;
    }
    socket.binaryType = "arraybuffer";
    const link = { socket, resuming: resume, error: null, welcomed: false };
    this.link = link;
    this.setState(resume ? "reconnecting" : "connecting", resume ? "resuming the session…" : "connecting…");
    socket.addEventListener("open", () => {
      if (this.link !== link) return;
      const { name, room, spectate, token } = this.options;
      const seat = this.seat;
      this.seat = null;
      this.send(this.codec.hello(name, { room, spectate, token, seat, resume: resume ? this.resumeToken : null }));
    });
    socket.addEventListener("message", (event) => {
      if (this.link !== link) return;
      this.bytesIn += event.data.byteLength ?? 0;
      let message;
      try {
        message = this.codec.decodeServer(event.data);
      } catch (error) {
        // Nothing sensible to do with a stream we cannot read: leave, and say why.
        console.warn("tickwire: undecodable message from the server", error);
        link.error = { code: CLOSE.PROTOCOL_ERROR, reason: `the server sent a message this page cannot read: ${error.message}` };
        socket.close(1000, "undecodable server message");
        return;
      }
      if (message.Welcome) this.handleWelcome(link, message.Welcome);
      else if (message.Error) link.error = message.Error;
      else if (message.Redirect) link.redirect = message.Redirect;
      else this.handlers.message(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.link !== link) return;
      this.handleClose(link, link.error?.code ?? event.code, link.error?.reason ?? event.reason);
    });
  }

  handleWelcome(link, welcome) {
    link.welcomed = true;
    this.redirects = 0;
    this.resumeToken = welcome.resume_token.some((byte) => byte !== 0) ? Uint8Array.from(welcome.resume_token) : null;
    this.droppedAt = null;
    this.attempt = 0;
    this.everWelcomed = true;
    if (welcome.resumed) this.reconnects += 1;
    this.setState("connected", welcome.resumed ? "connected (resumed)" : "connected");
    this.handlers.welcome(welcome);
  }

  handleClose(link, code, reason) {
    this.handlers.linkClosed?.();
    this.lastClose = { code, reason };
    const now = this.env.now();
    if (this.droppedAt === null && this.everWelcomed) this.droppedAt = now;
    const action = closeAction({
      code,
      leaving: this.leaving,
      resuming: link.resuming,
      everWelcomed: this.everWelcomed,
      droppedForMs: this.droppedAt === null ? 0 : now - this.droppedAt,
      graceMs: this.graceMs,
      redirected: Boolean(link.redirect) && this.redirects < REDIRECTS_MAX,
    });
    if (action === "redirect") {
      this.redirects += 1;
      this.url = link.redirect.url;
      this.seat = link.redirect.seat;
      this.handlers.system?.(`The room is on another server; joining it there.`);
      this.connect(false);
    } else if (action === "rejoin" && code === CLOSE.SERVICE_RESTART) {
      this.url = this.startUrl;
      this.resumeToken = null;
      this.redirects = 0;
      this.handlers.system?.("The game server went away; joining again.");
      this.connect(false);
    } else if (action === "rejoin") {
      this.resumeToken = null;
      this.handlers.system?.("The earlier session had expired; joining again.");
      this.connect(false);
    } else if (action === "retry") {
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] * (0.8 + this.env.random() * 0.4);
      this.attempt += 1;
      const why = code === 1006 ? "connection lost" : closeMessage(code);
      this.setState("reconnecting", `${why} — reconnecting in ${(delay / 1000).toFixed(1)} s`);
      this.handlers.notice?.(`Connection lost (${code === 1006 ? "dropped" : closeName(code)}). Reconnecting…`, true);
      this.reconnectTimer = this.env.setTimeout(() => this.connect(this.resumeToken !== null), delay);
    } else {
      this.end(this.leaving ? CLOSE.NORMAL : code, reason);
    }
  }

  end(code, reason) {
    const text = endText(code, this.everWelcomed);
    this.link = null;
    this.closed = { code, reason, text };
    this.setState("closed", code === CLOSE.NORMAL ? "not connected" : `disconnected: ${closeName(code)}`);
    this.handlers.ended?.({ code, reason, text, everWelcomed: this.everWelcomed, reconnects: this.reconnects });
  }

  setState(state, text) {
    this.state = state;
    this.stateText = text;
    this.handlers.state?.(state, text);
  }
}
