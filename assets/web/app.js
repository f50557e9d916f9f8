// tickwire's browser client: join form, keyboard and mouse input, client-side prediction of your
// own player, interpolation of everyone else, kill feed, scoreboard, chat, and reconnection.
//
// A plain ES module with no dependencies and no build step; the server embeds it (with
// index.html, style.css and protocol.js) and serves it at /. It speaks the wire protocol through
// protocol.js only (docs/PROTOCOL.md), so it is also a worked example of a third-party client.
//
// How it runs, per session:
// - connect(): open ws://<host>/ws (or ?server=...), send Hello; the Welcome gives the tick rate,
//   map, movement rules and a resume token.
// - Every server tick (a drift-corrected timer): sample the keyboard and mouse into one quantized
//   command, send it with the unacknowledged ones (at most 8) and the snapshot ack, and predict
//   your own movement with movePlayer (a port of tickwire-sim's move_player).
// - Every snapshot: rebuild the view (Replica), store it for interpolation, take the server's
//   state of your own entity, drop the inputs it applied, replay the others (reconciliation).
// - Every animation frame: draw others at (estimated server tick - delay), lerped between the two
//   surrounding snapshots; draw yourself where prediction says, smoothing small corrections.
// - On an abnormal close (1006, 4003, 4004, 1011): reconnect with Hello.resume, with backoff, for
//   as long as the server holds the player.
//
// The physics and timeline helpers are exported so node can test them; the page boots only when
// there is a document.

import {
  BUTTONS,
  CLOSE,
  FLAGS,
  KIND,
  LIMITS,
  PROTOCOL_VERSION,
  RESUME_TOKEN_LEN,
  Replica,
  aimFromWire,
  axisFromWire,
  axisToWire,
  closeMessage,
  closeName,
  decodeServer,
  encodeClient,
  inputAimToWire,
  posFromWire,
  posToWire,
  validateName,
  validateRoom,
  velFromWire,
  velToWire,
} from "./protocol.js";

// ---------------------------------------------------------------------------------------------
// Movement: tickwire-sim's move_player (crates/sim/src/physics.rs), in f32 arithmetic.
//
// Every operation is rounded with Math.fround exactly where the Rust code rounds an f32, so for
// the same quantized command, position and velocity this gives the server's answer bit for bit.

const f = Math.fround;
/** Positions are multiples of 1/256 m (tickwire-sim's POS_GRID). */
const POS_UNITS = 256;
const POS_GRID = 1 / 256;
const SUBSTEP_RADIUS_FRACTION = 0.5;
const MAX_SUBSTEPS = 64;
const RESOLVE_PASSES = 4;
const MIN_RADIUS = f(0.01);
const TINY_DISTANCE_SQUARED = f(1e-12);
const ONE_MINUS_EPSILON = f(1 - 2 ** -23);

/** f32::round: halves away from zero (Math.round rounds -2.5 to -2). */
function roundHalfAway(value) {
  return value < 0 ? -Math.round(-value) : Math.round(value);
}

function lengthSquared(x, y) {
  return f(f(x * x) + f(y * y));
}

function clampFinite(value, fallback, min, max) {
  return Number.isFinite(value) ? f(Math.min(Math.max(value, min), max)) : fallback;
}

/** Welcome.rules as tickwire-sim's Rules::sanitized would leave them. */
export function sanitizeRules(rules) {
  return {
    player_radius: clampFinite(rules.player_radius, f(0.5), f(0.05), 4),
    max_speed: clampFinite(rules.max_speed, 6, 0, 100),
    accel: clampFinite(rules.accel, 40, 0, 10000),
    friction: clampFinite(rules.friction, 30, 0, 10000),
  };
}

/** Rounds to the nearest multiple of 1/256 (tickwire-sim's snap, one axis). */
export function snapAxis(value) {
  return f(roundHalfAway(f(value * POS_UNITS)) * POS_GRID);
}

/** Snaps away from a surface whose outward normal has this sign on the axis. */
function snapAwayAxis(value, direction) {
  const scaled = f(value * POS_UNITS);
  let rounded;
  if (direction > 0) rounded = Math.ceil(scaled);
  else if (direction < 0) rounded = Math.floor(scaled);
  else rounded = roundHalfAway(scaled);
  return f(rounded * POS_GRID);
}

/** The command's movement direction as PlayerInput::sanitized leaves it. */
function moveDirection(cmd) {
  let x = axisFromWire(cmd.move_x);
  let y = axisFromWire(cmd.move_y);
  const squared = lengthSquared(x, y);
  if (squared > 1) {
    const length = f(Math.sqrt(squared));
    x = f(x / length);
    y = f(y / length);
    if (lengthSquared(x, y) > 1) {
      x = f(x * ONE_MINUS_EPSILON);
      y = f(y * ONE_MINUS_EPSILON);
    }
  }
  return [x, y];
}

/**
 * One step of the player movement rule: from `pos` and `vel` ({x, y} in meters and m/s), with the
 * wire command `cmd`, `dt` seconds. `map` is Welcome.map ({width, height, walls}), `rules`
 * sanitizeRules(Welcome.rules). Returns {pos, vel}.
 */
export function movePlayer(rules, map, dt, pos, vel, cmd) {
  const step = Number.isFinite(dt) ? f(Math.min(Math.max(dt, 0), 1)) : 0;
  let px = pos.x;
  let py = pos.y;
  if (!Number.isFinite(px) || !Number.isFinite(py)) {
    px = f(map.width * 0.5);
    py = f(map.height * 0.5);
  }
  let vx = vel.x;
  let vy = vel.y;
  if (!Number.isFinite(vx) || !Number.isFinite(vy)) {
    vx = 0;
    vy = 0;
  }

  const [dirX, dirY] = moveDirection(cmd);
  if (dirX !== 0 || dirY !== 0) {
    const targetX = f(dirX * rules.max_speed);
    const targetY = f(dirY * rules.max_speed);
    const changeX = f(targetX - vx);
    const changeY = f(targetY - vy);
    const maxChange = f(rules.accel * step);
    const changeSquared = lengthSquared(changeX, changeY);
    // Land exactly on the target once within reach (a steady input gives a constant velocity).
    if (changeSquared <= f(maxChange * maxChange)) {
      vx = targetX;
      vy = targetY;
    } else {
      const scale = f(maxChange / f(Math.sqrt(changeSquared)));
      vx = f(vx + f(changeX * scale));
      vy = f(vy + f(changeY * scale));
    }
  } else {
    const speed = f(Math.sqrt(lengthSquared(vx, vy)));
    const slowdown = f(rules.friction * step);
    if (speed <= slowdown) {
      vx = 0;
      vy = 0;
    } else {
      const scale = f(f(speed - slowdown) / speed);
      vx = f(vx * scale);
      vy = f(vy * scale);
    }
  }
  // glam's clamp_length_max: max * (v / |v|).
  const speedSquared = lengthSquared(vx, vy);
  if (speedSquared > f(rules.max_speed * rules.max_speed)) {
    const length = f(Math.sqrt(speedSquared));
    vx = f(rules.max_speed * f(vx / length));
    vy = f(rules.max_speed * f(vy / length));
  }
  if (!Number.isFinite(vx) || !Number.isFinite(vy)) {
    vx = 0;
    vy = 0;
  }
  return slideMove(map, rules.player_radius, px, py, snapAxis(f(vx * step)), snapAxis(f(vy * step)), vx, vy);
}

/** Moves a circle by (stepX, stepY) in sub-steps, pushing it out of walls and into the map. */
function slideMove(map, radiusIn, px, py, stepX, stepY, vx, vy) {
  const radius = Number.isFinite(radiusIn) ? Math.max(radiusIn, MIN_RADIUS) : MIN_RADIUS;
  const stepLength = f(Math.sqrt(lengthSquared(stepX, stepY)));
  const substeps = Math.min(
    Math.max(Math.ceil(f(stepLength / f(radius * SUBSTEP_RADIUS_FRACTION))), 1),
    MAX_SUBSTEPS,
  );
  // Mutable state shared with resolveOverlaps: the circle, the remaining sub-step, the velocity.
  const body = { x: px, y: py, subX: f(stepX / substeps), subY: f(stepY / substeps), vx, vy };
  let normal = null;
  for (let index = 1; index <= substeps; index++) {
    if (normal === null) {
      // Untouched so far: stay on the exact straight line, ending exactly at pos + step.
      const fraction = f(index / substeps);
      body.x = f(px + f(stepX * fraction));
      body.y = f(py + f(stepY * fraction));
    } else {
      body.x = f(body.x + body.subX);
      body.y = f(body.y + body.subY);
    }
    const touched = resolveOverlaps(map, radius, body);
    if (touched !== null) normal = touched;
  }
  const pos =
    normal === null
      ? { x: snapAxis(body.x), y: snapAxis(body.y) }
      : { x: snapAwayAxis(body.x, normal.x), y: snapAwayAxis(body.y, normal.y) };
  return { pos, vel: { x: body.vx, y: body.vy } };
}

function removeComponentInto(body, keyX, keyY, normalX, normalY) {
  const into = f(f(body[keyX] * normalX) + f(body[keyY] * normalY));
  if (into < 0) {
    body[keyX] = f(body[keyX] - f(normalX * into));
    body[keyY] = f(body[keyY] - f(normalY * into));
  }
}

function resolveOverlaps(map, radius, body) {
  let last = null;
  const touch = (normalX, normalY) => {
    removeComponentInto(body, "subX", "subY", normalX, normalY);
    removeComponentInto(body, "vx", "vy", normalX, normalY);
    last = { x: normalX, y: normalY };
  };
  for (let pass = 0; pass < RESOLVE_PASSES; pass++) {
    let pushed = false;
    for (const wall of map.walls) {
      const hit = circleWallPenetration(body.x, body.y, radius, wall);
      if (hit !== null) {
        body.x = f(body.x + f(hit.x * hit.depth));
        body.y = f(body.y + f(hit.y * hit.depth));
        touch(hit.x, hit.y);
        pushed = true;
      }
    }
    if (!pushed) break;
  }
  // The map's edges are walls of infinite thickness: clamp, and they win over inner walls.
  for (const [key, size] of [["x", map.width], ["y", map.height]]) {
    const low = radius;
    const high = f(size - radius);
    let direction = 0;
    if (low > high) {
      body[key] = f(size * 0.5);
    } else if (body[key] < low) {
      body[key] = low;
      direction = 1;
    } else if (body[key] > high) {
      body[key] = high;
      direction = -1;
    }
    if (direction !== 0) touch(key === "x" ? direction : 0, key === "y" ? direction : 0);
  }
  return last;
}

function circleWallPenetration(cx, cy, radius, [minX, minY, maxX, maxY]) {
  if (f(cx + radius) <= minX || f(cx - radius) >= maxX || f(cy + radius) <= minY || f(cy - radius) >= maxY) {
    return null;
  }
  const offsetX = f(cx - Math.min(Math.max(cx, minX), maxX));
  const offsetY = f(cy - Math.min(Math.max(cy, minY), maxY));
  const distanceSquared = lengthSquared(offsetX, offsetY);
  if (distanceSquared >= f(radius * radius)) return null;
  if (distanceSquared > TINY_DISTANCE_SQUARED) {
    const distance = f(Math.sqrt(distanceSquared));
    return { x: f(offsetX / distance), y: f(offsetY / distance), depth: f(radius - distance) };
  }
  // The center is inside the rectangle: leave through the nearest face.
  const faces = [
    [f(cx - minX), -1, 0],
    [f(maxX - cx), 1, 0],
    [f(cy - minY), 0, -1],
    [f(maxY - cy), 0, 1],
  ];
  let nearest = faces[0];
  for (const face of faces.slice(1)) if (face[0] < nearest[0]) nearest = face;
  return { x: nearest[1], y: nearest[2], depth: f(nearest[0] + radius) };
}

// ---------------------------------------------------------------------------------------------
// Interpolation timeline: which server tick to show others at.

/** How far past the newest snapshot others may be extrapolated, in seconds. */
const EXTRAPOLATE_MAX_S = 0.1;

/**
 * Estimates the server tick from snapshot arrivals and picks the render tick: (estimated tick -
 * delay), delay = 2 snapshot intervals + twice the arrival jitter, never going back in time.
 * Times are milliseconds (performance.now()).
 */
/**
 * Events held back until the interpolated view reaches their tick, so another player's tracer
 * starts where that player is drawn and a kill shows when the victim is seen to fall.
 * `pending` is a list of {tick, event}, oldest first; returns the events now due (tick at or
 * before `renderTick`), removing them, and drops the oldest past `max`.
 */
export function takeDueEvents(pending, renderTick, max) {
  while (pending.length > max) pending.shift();
  let due = 0;
  while (due < pending.length && pending[due].tick <= renderTick) due += 1;
  return pending.splice(0, due).map((entry) => entry.event);
}

export class Timeline {
  constructor(tickRate, snapshotInterval) {
    this.tickMs = 1000 / tickRate;
    this.snapshotInterval = snapshotInterval;
    /** Server tick minus local time in ticks, filtered over arrivals (null before the first). */
    this.offset = null;
    /** Mean absolute deviation of arrivals from the filtered offset, in ticks. */
    this.jitter = 0;
    /** The current delay in ticks; follows its target smoothly so the view does not jump. */
    this.delay = 2 * snapshotInterval;
    this.lastRenderTick = -Infinity;
  }

  handleSnapshot(tick, now) {
    const sample = tick - now / this.tickMs;
    if (this.offset === null || Math.abs(sample - this.offset) > 2 * this.snapshotInterval + 30) {
      // First snapshot, or a jump (a resumed session, a tab that slept): start over.
      this.offset = sample;
      this.jitter = 0;
      this.lastRenderTick = -Infinity;
      return;
    }
    const error = sample - this.offset;
    // Early arrivals mean our estimate lags: follow them faster than late ones (late is jitter).
    this.offset += error * (error > 0 ? 0.2 : 0.05);
    this.jitter += (Math.abs(error) - this.jitter) * 0.1;
    const target = 2 * this.snapshotInterval + 2 * this.jitter;
    this.delay += (target - this.delay) * 0.1;
  }

  /** The estimated server tick now (fractional). */
  serverTick(now) {
    return this.offset === null ? 0 : now / this.tickMs + this.offset;
  }

  /** The tick to show others at: never earlier than the last one returned. */
  renderTick(now) {
    const target = this.serverTick(now) - this.delay;
    if (target > this.lastRenderTick) this.lastRenderTick = target;
    return this.lastRenderTick;
  }

  /** The interpolation delay in ticks (how far behind the estimated server tick we show). */
  delayTicks(now) {
    if (this.offset === null) return 0;
    return Math.max(0, this.serverTick(now) - Math.max(this.lastRenderTick, this.serverTick(now) - this.delay));
  }
}

/**
 * Entity states at `renderTick` from `frames` (oldest first, each {tick, byId: Map}): lerped
 * between the two frames around it, or extrapolated along the velocity (at most
 * `maxExtrapolateTicks`) past the newest. Returns [{state, x, y}] with x, y in position units.
 */
export function interpolate(frames, renderTick, maxExtrapolateTicks) {
  if (frames.length === 0) return [];
  let older = frames[0];
  let newer = null;
  for (let index = frames.length - 1; index >= 0; index--) {
    if (frames[index].tick <= renderTick) {
      older = frames[index];
      newer = frames[index + 1] ?? null;
      break;
    }
  }
  const out = [];
  if (renderTick < older.tick || newer === null) {
    // Before the oldest frame: show it as it is. Past the newest: extrapolate, briefly.
    const ahead = Math.min(Math.max(renderTick - older.tick, 0), maxExtrapolateTicks);
    for (const state of older.byId.values()) {
      out.push({ state, x: state.x + state.vx * ahead, y: state.y + state.vy * ahead });
    }
    return out;
  }
  const alpha = (renderTick - older.tick) / (newer.tick - older.tick);
  for (const state of older.byId.values()) {
    const next = newer.byId.get(state.id);
    if (next === undefined) {
      out.push({ state, x: state.x, y: state.y });
      continue;
    }
    const jump = Math.hypot(next.x - state.x, next.y - state.y) > 3 * POS_UNITS * (newer.tick - older.tick);
    if (jump) {
      // A respawn or teleport: no sliding across the map.
      const shown = alpha < 0.5 ? state : next;
      out.push({ state: shown, x: shown.x, y: shown.y });
    } else {
      const shown = alpha < 0.5 ? state : next;
      out.push({ state: shown, x: state.x + (next.x - state.x) * alpha, y: state.y + (next.y - state.y) * alpha });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The page.

/** Close codes after which the client reconnects with its resume token. */
const RECONNECT_CODES = new Set([1006, CLOSE.TIMEOUT, CLOSE.TOO_SLOW, CLOSE.INTERNAL_ERROR]);
/** How long the server holds a dropped player by default (assets/server.toml resume_grace_s). */
const DEFAULT_GRACE_S = 15;
const BACKOFF_MS = [250, 500, 1000, 2000, 3000];
/** Input messages per second at most (the server's default budget is 90 messages a second). */
const MESSAGES_PER_S_MAX = 60;
/** Commands kept for replay; the oldest unacknowledged ones beyond this are forgotten. */
const PENDING_MAX = 64;
const FRAMES_MAX = 64;
const CHAT_LINES_MAX = 100;
const FEED_MAX = 5;
/** Others' events held for the interpolated view at most (a hidden tab renders nothing). */
const PENDING_EVENTS_MAX = 256;
const FEED_TTL_MS = 6000;
const TRACER_TTL_MS = 300;
const CORRECTION_THRESHOLD_M = 0.05;
/** A prediction error above this is a teleport (respawn), not something to smooth. */
const TELEPORT_M = 2;
const SMOOTHING_TIME_CONSTANT_MS = 35;
const ERRORS_KEPT = 300;

function boot() {
  const params = new URLSearchParams(location.search);
  const elements = {
    canvas: document.getElementById("view"),
    stage: document.getElementById("stage"),
    join: document.getElementById("join"),
    joinName: document.getElementById("join-name"),
    joinRoom: document.getElementById("join-room"),
    joinSpectate: document.getElementById("join-spectate"),
    joinToken: document.getElementById("join-token"),
    joinError: document.getElementById("join-error"),
    banner: document.getElementById("banner"),
    feed: document.getElementById("feed"),
    scores: document.getElementById("scores"),
    chatLog: document.getElementById("chat-log"),
    chatForm: document.getElementById("chat-form"),
    chatInput: document.getElementById("chat-input"),
    leave: document.getElementById("leave"),
    state: document.getElementById("status-state"),
    room: document.getElementById("status-room"),
    ping: document.getElementById("status-ping"),
    tick: document.getElementById("status-tick"),
    rate: document.getElementById("status-rate"),
    bytes: document.getElementById("status-bytes"),
    prediction: document.getElementById("status-prediction"),
  };
  const context = elements.canvas.getContext("2d");
  const serverUrl =
    params.get("server") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const graceMs = 1000 * (Number(params.get("grace")) > 0 ? Number(params.get("grace")) : DEFAULT_GRACE_S);

  // --- Everything the client knows. `session` lives from Join to the final close (across
  // reconnects); `link` is one WebSocket.
  let session = null;
  let link = null;
  let connection = { state: "idle", text: "not connected" };
  const input = { keys: new Set(), buttons: 0, shift: false, mouse: null };
  const stats = { bytesIn: 0, bytesOut: 0, snapshots: 0, window: [], rttMs: null, pingNonce: 0, pings: new Map() };
  const chatLines = [];
  /** The session that ended last (for the test hook after a final close). */
  let lastEnded = null;
  const feed = [];
  const tracers = [];
  /** Hitscan shots seen (Events Shot), in total and by our own entity. */
  const shots = { total: 0, own: 0 };

  // --- Join form.
  elements.joinName.value = params.get("name") ?? storage("tickwire.name") ?? "";
  elements.joinRoom.value = params.get("room") ?? "";
  elements.joinSpectate.checked = params.get("spectate") === "1";
  elements.join.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = elements.joinName.value.trim();
    const room = elements.joinRoom.value.trim();
    const token = elements.joinToken.value.trim();
    try {
      validateName(name);
      if (room !== "") validateRoom(room);
      if (token !== "" && new TextEncoder().encode(token).length > LIMITS.TOKEN_MAX) {
        throw new Error(`the token is longer than ${LIMITS.TOKEN_MAX} bytes`);
      }
    } catch (error) {
      elements.joinError.textContent = `Cannot join: ${error.message}.`;
      return;
    }
    storage("tickwire.name", name);
    startSession({ name, room: room || null, spectate: elements.joinSpectate.checked, token: token || null });
  });
  elements.leave.addEventListener("click", () => leave());
  if (params.get("spectate") === "1") {
    // Spectator links join at once: /?spectate=1&room=R.
    const room = params.get("room");
    startSession({
      name: params.get("name") || "spectator",
      room: room && room !== "" ? room : null,
      spectate: true,
      token: null,
    });
  }

  /** Reads (or with a value, writes) a remembered setting; storage may be unavailable. */
  function storage(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      localStorage.setItem(key, value);
    } catch {
      // Private mode or a sandboxed page: just do not remember.
    }
    return null;
  }

  function startSession(options) {
    elements.joinError.textContent = "";
    elements.join.hidden = true;
    // Keys now steer the player, not the form.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    session = {
      options,
      welcome: null,
      resumeToken: null,
      // Input sequence numbers continue across resumed connections.
      nextSeq: 1,
      leaving: false,
      droppedAt: null,
      attempt: 0,
      reconnectTimer: null,
      everWelcomed: false,
      reconnects: 0,
      lastClose: null,
    };
    chatLines.length = 0;
    renderChat();
    connect(false);
  }

  function leave() {
    if (!session) return;
    session.leaving = true;
    clearTimeout(session.reconnectTimer);
    if (link && link.socket.readyState <= WebSocket.OPEN) link.socket.close(1000, "left");
    else endSession(CLOSE.NORMAL, "");
  }

  // --- One connection.
  function connect(resume) {
    let socket;
    try {
      socket = new WebSocket(serverUrl);
    } catch (error) {
      // Only a malformed ?server= address gets here.
      link = null;
      endSession(1006, `bad server address ${serverUrl}: ${error.message}`);
      return;
    }
    socket.binaryType = "arraybuffer";
    link = {
      socket,
      resuming: resume,
      error: null,
      game: null,
    };
    const current = link;
    setConnection(resume ? "reconnecting" : "connecting", resume ? "resuming the session…" : "connecting…");
    socket.addEventListener("open", () => {
      const { name, room, spectate, token } = session.options;
      send({
        Hello: {
          version: PROTOCOL_VERSION,
          name,
          room,
          spectate,
          resume: resume ? session.resumeToken : null,
          token,
        },
      });
    });
    socket.addEventListener("message", (event) => {
      if (link !== current) return;
      stats.bytesIn += event.data.byteLength ?? 0;
      let message;
      try {
        message = decodeServer(event.data);
      } catch (error) {
        // Nothing sensible to do with a stream we cannot read: leave, and say why.
        console.warn("tickwire: undecodable message from the server", error);
        const reason = `the server sent a message this page cannot read: ${error.message}`;
        current.error = { code: CLOSE.PROTOCOL_ERROR, reason };
        socket.close(1000, "undecodable server message");
        return;
      }
      handleMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (link !== current) return;
      const code = current.error?.code ?? event.code;
      const reason = current.error?.reason ?? event.reason;
      handleClose(code, reason);
    });
  }

  function send(message) {
    if (!link || link.socket.readyState !== WebSocket.OPEN) return false;
    const bytes = encodeClient(message);
    link.socket.send(bytes);
    stats.bytesOut += bytes.length;
    return true;
  }

  function handleMessage(message) {
    if (message.Welcome) handleWelcome(message.Welcome);
    else if (message.Snapshot) handleSnapshot(message.Snapshot);
    else if (message.Events) handleEvents(message.Events);
    else if (message.Chat) addChat(message.Chat);
    else if (message.Pong) handlePong(message.Pong);
    else if (message.Error) link.error = message.Error;
  }

  function handleWelcome(welcome) {
    const resumed = welcome.resumed;
    const token = welcome.resume_token;
    session.welcome = welcome;
    // A fresh player's sequence numbers start at 1; a resumed one numbers on.
    if (!resumed) session.nextSeq = 1;
    session.resumeToken = token.some((byte) => byte !== 0) ? Uint8Array.from(token) : null;
    session.droppedAt = null;
    session.attempt = 0;
    session.everWelcomed = true;
    const tickRate = welcome.tick_rate;
    const rules = sanitizeRules(welcome.rules);
    link.game = {
      welcome,
      rules,
      map: welcome.map,
      dt: f(1 / tickRate),
      tickMs: 1000 / tickRate,
      sendEvery: Math.max(1, Math.ceil(tickRate / MESSAGES_PER_S_MAX)),
      ticksSinceSend: 0,
      lastAckSent: 0,
      spectator: welcome.entity === 0,
      // Every Welcome starts from a full snapshot: the server forgot our acknowledgements.
      replica: new Replica(),
      timeline: new Timeline(tickRate, welcome.snapshot_interval),
      frames: [],
      scores: [],
      names: new Map(),
      lastSnapshotTick: 0,
      // Others' events waiting for the interpolated view to reach their tick.
      pendingEvents: [],
      lastInput: 0,
      snapshotErrors: 0,
      // Prediction: unacknowledged commands, predicted states by sequence number, the
      // predicted state now and one tick before (drawn in between), and the visual offset that
      // hides a correction.
      pending: [],
      history: new Map(),
      predicted: null,
      previous: null,
      predictedAt: 0,
      ownAlive: false,
      offset: { x: 0, y: 0 },
      corrections: 0,
      errors: [],
      waitForSnapshot: resumed,
      aimAngle: 0,
      nextInputAt: performance.now(),
      inputTimer: null,
      pingTimer: null,
    };
    const state = resumed ? "connected (resumed)" : "connected";
    setConnection("connected", state);
    elements.leave.hidden = false;
    elements.chatInput.disabled = false;
    showBanner(resumed ? "Reconnected: you are back in the game." : null);
    if (resumed) session.reconnects += 1;
    addSystemLine(
      resumed
        ? `Reconnected to room ${welcome.room}.`
        : `Joined room ${welcome.room}${link.game.spectator ? " as a spectator" : ""}.`,
    );
    scheduleInput(link.game);
    link.game.pingTimer = setInterval(sendPing, 1000);
    sendPing();
  }

  function handleSnapshot(snapshot) {
    const game = link.game;
    if (!game) return;
    stats.snapshots += 1;
    stats.window.push(performance.now());
    try {
      game.replica.handleSnapshot(snapshot);
    } catch (error) {
      // Ask for a full snapshot: acknowledge 0 from now on.
      game.snapshotErrors += 1;
      console.warn("tickwire: snapshot refused, asking for a full one", error);
      game.replica.reset();
      return;
    }
    const now = performance.now();
    game.timeline.handleSnapshot(snapshot.tick, now);
    game.lastSnapshotTick = snapshot.tick;
    game.lastInput = snapshot.last_input;
    const view = game.replica.view();
    game.frames.push({ tick: snapshot.tick, byId: new Map(view.map((state) => [state.id, state])) });
    while (game.frames.length > FRAMES_MAX) game.frames.shift();
    if (snapshot.scores.length > 0 || snapshot.scores_removed.length > 0 || snapshot.baseline_age === 0) {
      game.scores = game.replica.scores();
      game.names = new Map();
      for (const row of game.scores) game.names.set(row.entity, row.name);
      renderScores(game);
    }
    if (!game.spectator) {
      if (game.waitForSnapshot) {
        // A resumed session: number on from where the server stands.
        session.nextSeq = Math.max(session.nextSeq, snapshot.last_input + 1);
        game.waitForSnapshot = false;
      }
      const own = game.replica.entity(game.welcome.entity);
      if (own !== undefined) reconcile(game, snapshot.last_input, own);
    }
  }

  /** Takes the server's state of our entity, drops applied commands, replays the rest. */
  function reconcile(game, lastInput, own) {
    while (game.pending.length > 0 && game.pending[0].seq <= lastInput) game.pending.shift();
    for (const seq of game.history.keys()) if (seq < lastInput) game.history.delete(seq);
    const pos = { x: posFromWire(own.x), y: posFromWire(own.y) };
    let vel = { x: velFromWire(own.vx, game.dt), y: velFromWire(own.vy, game.dt) };
    // The wire's velocity is rounded to 1/256 m per tick; when our prediction for the applied
    // command matches the server's exactly, our unrounded velocity is the server's.
    const mine = game.history.get(lastInput);
    if (
      mine !== undefined &&
      posToWire(mine.pos.x) === own.x &&
      posToWire(mine.pos.y) === own.y &&
      velToWire(mine.vel.x, game.dt) === own.vx &&
      velToWire(mine.vel.y, game.dt) === own.vy
    ) {
      vel = mine.vel;
    }
    const alive = (own.flags & FLAGS.ALIVE) !== 0;
    let state = { pos, vel };
    if (alive) {
      for (const { seq, cmd } of game.pending) {
        state = movePlayer(game.rules, game.map, game.dt, state.pos, state.vel, cmd);
        game.history.set(seq, state);
      }
    }
    const before = game.predicted;
    if (before !== null && alive && game.ownAlive) {
      const errorX = before.pos.x - state.pos.x;
      const errorY = before.pos.y - state.pos.y;
      const error = Math.hypot(errorX, errorY);
      game.errors.push(error);
      if (game.errors.length > ERRORS_KEPT) game.errors.shift();
      if (error > CORRECTION_THRESHOLD_M) game.corrections += 1;
      if (error > 0 && error < TELEPORT_M) {
        // Keep drawing where we were and let the offset decay: no visible snap.
        game.offset.x += errorX;
        game.offset.y += errorY;
      } else if (error >= TELEPORT_M) {
        game.offset = { x: 0, y: 0 };
      }
      if (game.previous !== null) {
        const { pos, vel } = game.previous;
        game.previous = { pos: { x: pos.x - errorX, y: pos.y - errorY }, vel };
      }
    } else {
      game.offset = { x: 0, y: 0 };
      game.previous = state;
    }
    game.ownAlive = alive;
    game.predicted = state;
  }

  function handleEvents(events) {
    const game = link.game;
    const now = performance.now();
    // A tick's events are written just before its snapshot, after the previous one: they
    // belong to the tick after the newest snapshot held. Our own shots and deaths show at once
    // (we are drawn in the present); everyone else's wait for the interpolated view.
    const tick = (game?.lastSnapshotTick ?? 0) + 1;
    for (const event of events) {
      if (event.Shot) {
        shots.total += 1;
        if (game !== null && event.Shot.shooter === game.welcome.entity) shots.own += 1;
      }
      if (game === null || (!game.spectator && involvesUs(game, event))) {
        showEvent(game, event, now);
      } else {
        game.pendingEvents.push({ tick, event });
      }
    }
  }

  function involvesUs(game, event) {
    const own = game.welcome;
    if (event.Shot) return event.Shot.shooter === own.entity || event.Shot.hit === own.entity;
    if (event.Killed) return event.Killed.victim === own.entity || event.Killed.killer === own.player;
    return false;
  }

  function showEvent(game, event, now) {
    if (event.Shot) {
      const shot = event.Shot;
      tracers.push({
        from: { x: posFromWire(shot.from_x), y: posFromWire(shot.from_y) },
        to: { x: posFromWire(shot.to_x), y: posFromWire(shot.to_y) },
        own: game !== null && shot.shooter === game.welcome.entity,
        hit: shot.hit !== 0,
        at: now,
      });
    } else if (event.Killed) {
      const { killer, victim } = event.Killed;
      const killerRow = game?.scores.find((row) => row.player === killer);
      const killerName = killer === 0 ? null : killerRow?.name ?? `player ${killer}`;
      const victimName = entityName(game, victim);
      feed.push({ killer: killerName, victim: victimName, at: now });
      while (feed.length > FEED_MAX) feed.shift();
      renderFeed();
      if (game !== null && !game.spectator) {
        const own = game.welcome;
        if (victim === own.entity) {
          const byOther = killerName !== null && killer !== own.player;
          showBanner(byOther ? `${killerName} got you. Respawning…` : "You died. Respawning…");
        } else if (killer === own.player) {
          showBanner(`You got ${victimName}.`);
        }
      }
    }
  }

  function entityName(game, entity) {
    if (game?.names.has(entity)) return game.names.get(entity);
    const state = game?.replica.entity(entity);
    if (state?.kind === KIND.NPC) return "NPC";
    return `#${entity}`;
  }

  function handlePong(pong) {
    const sentAt = stats.pings.get(pong.nonce);
    if (sentAt === undefined) return;
    stats.pings.delete(pong.nonce);
    const rtt = performance.now() - sentAt;
    stats.rttMs = stats.rttMs === null ? rtt : stats.rttMs + (rtt - stats.rttMs) * 0.3;
    stats.pongTick = pong.tick;
  }

  function sendPing() {
    stats.pingNonce = (stats.pingNonce + 1) >>> 0;
    if (send({ Ping: { nonce: stats.pingNonce } })) stats.pings.set(stats.pingNonce, performance.now());
    // Forget pings that were never answered.
    for (const nonce of stats.pings.keys()) if (stats.pings.size > 10) stats.pings.delete(nonce);
  }

  // --- Closing and reconnecting.
  function handleClose(code, reason) {
    const game = link?.game;
    if (game) {
      clearTimeout(game.inputTimer);
      clearInterval(game.pingTimer);
    }
    session.lastClose = { code, reason };
    const wasResuming = link.resuming;
    if (session.leaving) {
      endSession(CLOSE.NORMAL, reason);
      return;
    }
    if (code === CLOSE.RESUME_FAILED && wasResuming) {
      // The server no longer holds the player: join afresh with the same name and room.
      session.resumeToken = null;
      addSystemLine("The earlier session had expired; joining again.");
      connect(false);
      return;
    }
    // A resume can also meet its own old connection still holding the session token (4010)
    // until the server notices that connection is gone: retry that too.
    const retry = RECONNECT_CODES.has(code) || (wasResuming && code === CLOSE.TOKEN_IN_USE);
    if (retry && session.everWelcomed) {
      if (session.droppedAt === null) session.droppedAt = performance.now();
      const elapsed = performance.now() - session.droppedAt;
      if (elapsed < graceMs) {
        const delay = BACKOFF_MS[Math.min(session.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
        session.attempt += 1;
        const why = code === 1006 ? "connection lost" : closeMessage(code);
        setConnection("reconnecting", `${why} — reconnecting in ${(delay / 1000).toFixed(1)} s`);
        showBanner(`Connection lost (${code === 1006 ? "dropped" : closeName(code)}). Reconnecting…`, true);
        session.reconnectTimer = setTimeout(() => connect(session.resumeToken !== null), delay);
        return;
      }
    }
    endSession(code, reason);
  }

  function endSession(code, reason) {
    const everWelcomed = session?.everWelcomed ?? false;
    let text;
    if (code === 1006 && !everWelcomed) text = "Could not reach the server. Check the address and try again.";
    else if (code === 1006) text = "The connection was lost and could not be restored.";
    else text = closeMessage(code);
    const detail = reason && code !== CLOSE.NORMAL ? ` (${reason})` : "";
    setConnection("closed", code === CLOSE.NORMAL ? "not connected" : `disconnected: ${closeName(code)}`);
    showBanner(code === CLOSE.NORMAL ? null : `${text}${detail}`, true);
    addSystemLine(`${text}${detail}`);
    elements.leave.hidden = true;
    elements.chatInput.disabled = true;
    elements.join.hidden = false;
    elements.joinError.textContent = code === CLOSE.NORMAL ? "" : text;
    session.closed = { code, reason, text };
    link = null;
    lastEnded = session;
    session = null;
  }

  function setConnection(state, text) {
    connection = { state, text };
    elements.state.className = `state state-${state}`;
    elements.state.textContent = text;
  }

  function showBanner(text, bad = false) {
    elements.banner.hidden = !text;
    elements.banner.textContent = text ?? "";
    elements.banner.classList.toggle("bad", bad);
    clearTimeout(showBanner.timer);
    if (text && !bad) showBanner.timer = setTimeout(() => (elements.banner.hidden = true), 3000);
  }

  // --- Input: one command per server tick.
  function scheduleInput(game) {
    const run = () => {
      if (link?.game !== game || link.socket.readyState !== WebSocket.OPEN) return;
      inputTick(game);
      game.nextInputAt += game.tickMs;
      const now = performance.now();
      // After a long stall (a background tab), do not send a burst to catch up.
      if (now - game.nextInputAt > 4 * game.tickMs) game.nextInputAt = now + game.tickMs;
      game.inputTimer = setTimeout(run, Math.max(0, game.nextInputAt - now));
    };
    game.nextInputAt = performance.now();
    run();
  }

  function inputTick(game) {
    const now = performance.now();
    game.ticksSinceSend += 1;
    if (game.spectator) {
      // Spectators only acknowledge, when there is something new to acknowledge.
      const ack = game.replica.ackTick();
      if (ack !== 0 && ack !== game.lastAckSent && game.ticksSinceSend >= game.sendEvery) {
        send({ Input: { ack_tick: ack, first_seq: 0, cmds: [] } });
        game.lastAckSent = ack;
        game.ticksSinceSend = 0;
      }
      return;
    }
    if (game.waitForSnapshot) {
      // A resumed session sends its first command once it knows the server's sequence.
      if (game.replica.ackTick() === 0) return;
    }
    const cmd = sampleCommand(game, now);
    const seq = session.nextSeq;
    session.nextSeq += 1;
    // The tick others are shown at as this command is sampled; each message turns it into a
    // view_age relative to its own ack_tick, so resends stay correct as the ack moves on.
    const viewTick = Math.max(0, Math.round(game.timeline.renderTick(now)));
    game.pending.push({ seq, cmd, viewTick });
    while (game.pending.length > PENDING_MAX) game.history.delete(game.pending.shift().seq);
    // One message per tick; above 60 Hz one every few ticks (each carries the unacknowledged
    // commands anyway), so the message rate stays inside the server's default budget.
    if (game.ticksSinceSend >= game.sendEvery) {
      game.ticksSinceSend = 0;
      const resend = game.pending.slice(-LIMITS.INPUTS_PER_MSG_MAX);
      const ackTick = game.replica.ackTick();
      const cmds = resend.map((entry) => ({
        ...entry.cmd,
        view_age: Math.min(255, Math.max(0, ackTick - entry.viewTick)),
      }));
      send({ Input: { ack_tick: ackTick, first_seq: resend[0].seq, cmds } });
    }
    if (game.predicted !== null && game.ownAlive) {
      game.previous = game.predicted;
      game.predicted = movePlayer(game.rules, game.map, game.dt, game.predicted.pos, game.predicted.vel, cmd);
      game.history.set(seq, game.predicted);
      game.predictedAt = now;
    }
  }

  function sampleCommand(game, now) {
    const typing = document.activeElement === elements.chatInput;
    const held = (...codes) => !typing && codes.some((code) => input.keys.has(code));
    // World y grows upwards (north); the canvas draws it flipped.
    const moveX = (held("KeyD", "ArrowRight") ? 1 : 0) - (held("KeyA", "ArrowLeft") ? 1 : 0);
    const moveY = (held("KeyW", "ArrowUp") ? 1 : 0) - (held("KeyS", "ArrowDown") ? 1 : 0);
    const own = ownDrawPosition(game, now);
    if (input.mouse !== null && own !== null) {
      const target = camera.toWorld(input.mouse.x, input.mouse.y);
      if (target.x !== own.x || target.y !== own.y) game.aimAngle = Math.atan2(target.y - own.y, target.x - own.x);
    }
    let buttons = input.buttons;
    if (input.shift && !typing) buttons |= BUTTONS.HITSCAN;
    return {
      move_x: axisToWire(moveX),
      move_y: axisToWire(moveY),
      aim: inputAimToWire(game.aimAngle),
      buttons,
      view_age: 0, // set per message from the command's view tick
    };
  }

  /** Our own entity's drawn position in meters (prediction, sub-tick smoothed, plus offset). */
  function ownDrawPosition(game, now) {
    if (game.predicted === null) return null;
    const from = game.previous ?? game.predicted;
    const t = Math.min(Math.max((now - game.predictedAt) / game.tickMs, 0), 1);
    return {
      x: from.pos.x + (game.predicted.pos.x - from.pos.x) * t + game.offset.x,
      y: from.pos.y + (game.predicted.pos.y - from.pos.y) * t + game.offset.y,
    };
  }

  window.addEventListener("keydown", (event) => {
    if (event.key === "Shift") input.shift = true;
    if (document.activeElement === elements.chatInput) {
      if (event.key === "Escape") elements.chatInput.blur();
      return;
    }
    if (event.key === "Enter" && link?.game && !elements.chatInput.disabled) {
      event.preventDefault();
      elements.chatInput.focus();
      return;
    }
    const inForm = event.target instanceof HTMLInputElement;
    if (!inForm && ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Space"].includes(event.code)) {
      event.preventDefault();
    }
    if (!inForm) input.keys.add(event.code);
  });
  window.addEventListener("keyup", (event) => {
    if (event.key === "Shift") input.shift = false;
    input.keys.delete(event.code);
  });
  window.addEventListener("blur", () => {
    input.keys.clear();
    input.buttons = 0;
    input.shift = false;
  });
  elements.canvas.addEventListener("mousemove", (event) => {
    const rect = elements.canvas.getBoundingClientRect();
    input.mouse = { x: event.clientX - rect.left, y: event.clientY - rect.top };
  });
  elements.canvas.addEventListener("mousedown", (event) => {
    if (document.activeElement === elements.chatInput) elements.chatInput.blur();
    if (event.button === 0) input.buttons |= BUTTONS.FIRE;
    if (event.button === 2) input.buttons |= BUTTONS.HITSCAN;
    event.preventDefault();
  });
  window.addEventListener("mouseup", (event) => {
    if (event.button === 0) input.buttons &= ~BUTTONS.FIRE;
    if (event.button === 2) input.buttons &= ~BUTTONS.HITSCAN;
  });
  elements.canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  // --- Chat.
  elements.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    // Control characters are not allowed on the wire; newlines cannot be typed here anyway.
    const text = elements.chatInput.value.replace(/\p{Cc}/gu, " ").trim();
    if (text === "") {
      elements.chatInput.blur();
      return;
    }
    if (new TextEncoder().encode(text).length > LIMITS.CHAT_MAX) {
      addSystemLine(`That message is longer than ${LIMITS.CHAT_MAX} bytes.`);
      return;
    }
    if (send({ Chat: { text } })) {
      elements.chatInput.value = "";
      // Back to the game: the keys move the player again.
      elements.chatInput.blur();
    }
  });

  function addChat(chat) {
    chatLines.push({ from: chat.from, name: chat.name, text: chat.text });
    while (chatLines.length > CHAT_LINES_MAX) chatLines.shift();
    const line = document.createElement("li");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = chat.name;
    line.append(who, `: ${chat.text}`);
    appendChatLine(line);
  }

  function addSystemLine(text) {
    const line = document.createElement("li");
    line.className = "system";
    line.textContent = text;
    appendChatLine(line);
  }

  function appendChatLine(line) {
    const log = elements.chatLog;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 30;
    log.append(line);
    while (log.children.length > CHAT_LINES_MAX) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function renderChat() {
    elements.chatLog.replaceChildren();
  }

  // --- Scoreboard and kill feed (DOM).
  function renderScores(game) {
    const rows = [...game.scores].sort((a, b) => b.kills - a.kills || a.deaths - b.deaths || a.player - b.player);
    elements.scores.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        if (row.player === game.welcome.player) tr.className = "own";
        for (const value of [row.name, row.kills, row.deaths]) {
          const td = document.createElement("td");
          td.textContent = String(value);
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  function renderFeed() {
    const now = performance.now();
    while (feed.length > 0 && now - feed[0].at > FEED_TTL_MS) feed.shift();
    elements.feed.replaceChildren(
      ...feed.map((entry) => {
        const li = document.createElement("li");
        const victim = document.createElement("span");
        victim.className = "victim";
        victim.textContent = entry.victim;
        if (entry.killer === null) {
          li.append(victim, " died");
        } else {
          const killer = document.createElement("span");
          killer.className = "killer";
          killer.textContent = entry.killer;
          li.append(killer, " ✕ ", victim);
        }
        return li;
      }),
    );
  }

  // --- Drawing.
  const camera = {
    scale: 10,
    originX: 0,
    originY: 0,
    width: 0,
    height: 0,
    /** Canvas pixels (CSS) to world meters. */
    toWorld(x, y) {
      return { x: (x - this.originX) / this.scale, y: (this.originY - y) / this.scale };
    },
    /** World meters to canvas pixels (CSS). */
    toScreen(x, y) {
      return { x: this.originX + x * this.scale, y: this.originY - y * this.scale };
    },
  };

  function fitCanvas() {
    const ratio = window.devicePixelRatio || 1;
    const width = elements.stage.clientWidth;
    const height = elements.stage.clientHeight;
    if (elements.canvas.width !== Math.round(width * ratio) || elements.canvas.height !== Math.round(height * ratio)) {
      elements.canvas.width = Math.round(width * ratio);
      elements.canvas.height = Math.round(height * ratio);
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    camera.width = width;
    camera.height = height;
  }

  function placeCamera(game, focus) {
    const map = game.map;
    const margin = 20;
    const fit = Math.min((camera.width - 2 * margin) / map.width, (camera.height - 2 * margin) / map.height);
    if (fit >= 8) {
      // The whole arena fits: show all of it.
      camera.scale = fit;
      camera.originX = (camera.width - map.width * fit) / 2;
      camera.originY = camera.height - (camera.height - map.height * fit) / 2;
    } else {
      // A large map: follow the player, about 50 m across the shorter side.
      camera.scale = Math.max(4, Math.min(camera.width, camera.height) / 50);
      const center = focus ?? { x: map.width / 2, y: map.height / 2 };
      camera.originX = camera.width / 2 - center.x * camera.scale;
      camera.originY = camera.height / 2 + center.y * camera.scale;
    }
  }

  /** What was drawn last frame, for the test hook. */
  let drawn = [];
  let lastFrameAt = performance.now();

  function frame(now) {
    const elapsed = Math.min(now - lastFrameAt, 250);
    lastFrameAt = now;
    fitCanvas();
    const game = link?.game ?? null;
    context.fillStyle = "#0a0e12";
    context.fillRect(0, 0, camera.width, camera.height);
    if (game !== null) {
      const decay = Math.exp(-elapsed / SMOOTHING_TIME_CONSTANT_MS);
      game.offset.x *= decay;
      game.offset.y *= decay;
      if (Math.hypot(game.offset.x, game.offset.y) < 1e-4) game.offset = { x: 0, y: 0 };
      drawGame(game, now);
    } else {
      drawn = [];
    }
    renderStatus(now);
    if (feed.length > 0 && now - feed[0].at > FEED_TTL_MS) renderFeed();
    requestAnimationFrame(frame);
  }

  function drawGame(game, now) {
    const own = ownDrawPosition(game, now);
    placeCamera(game, own);
    drawArena(game);
    const renderTick = game.timeline.renderTick(now);
    for (const event of takeDueEvents(game.pendingEvents, renderTick, PENDING_EVENTS_MAX)) {
      showEvent(game, event, now);
    }
    const extrapolate = EXTRAPOLATE_MAX_S * game.welcome.tick_rate;
    const shown = interpolate(game.frames, renderTick, extrapolate);
    const ownId = game.welcome.entity;
    const list = [];
    // Projectiles under bodies, NPCs, other players, then us on top.
    const order = { [KIND.PROJECTILE]: 0, [KIND.NPC]: 1, [KIND.PLAYER]: 2 };
    shown.sort((a, b) => order[a.state.kind] - order[b.state.kind]);
    for (const { state, x, y } of shown) {
      if (state.id === ownId) continue;
      const position = { x: x / POS_UNITS, y: y / POS_UNITS };
      drawEntity(game, state, position, false);
      list.push(describe(game, state, position, false));
    }
    const ownState = game.replica.entity(ownId);
    if (ownState !== undefined && own !== null) {
      drawEntity(game, ownState, own, true);
      list.push(describe(game, ownState, own, true));
    }
    drawTracers(now);
    drawn = list;
  }

  function describe(game, state, position, own) {
    const screen = camera.toScreen(position.x, position.y);
    return {
      id: state.id,
      kind: state.kind === KIND.PLAYER ? "player" : state.kind === KIND.NPC ? "npc" : "projectile",
      x: position.x,
      y: position.y,
      health: state.health,
      alive: (state.flags & FLAGS.ALIVE) !== 0,
      name: game.names.get(state.id) ?? null,
      own,
      // Where it was drawn, in CSS pixels from the canvas's top-left corner.
      screen: { x: Math.round(screen.x), y: Math.round(screen.y) },
    };
  }

  function drawArena(game) {
    const map = game.map;
    const topLeft = camera.toScreen(0, map.height);
    context.fillStyle = "#121a22";
    context.fillRect(topLeft.x, topLeft.y, map.width * camera.scale, map.height * camera.scale);
    // A 5 m grid, to make movement readable.
    context.strokeStyle = "rgba(255, 255, 255, 0.04)";
    context.lineWidth = 1;
    context.beginPath();
    for (let x = 5; x < map.width; x += 5) {
      const a = camera.toScreen(x, 0);
      const b = camera.toScreen(x, map.height);
      context.moveTo(a.x, a.y);
      context.lineTo(b.x, b.y);
    }
    for (let y = 5; y < map.height; y += 5) {
      const a = camera.toScreen(0, y);
      const b = camera.toScreen(map.width, y);
      context.moveTo(a.x, a.y);
      context.lineTo(b.x, b.y);
    }
    context.stroke();
    context.fillStyle = "#3b4a5c";
    context.strokeStyle = "#56687e";
    for (const [minX, minY, maxX, maxY] of map.walls) {
      const corner = camera.toScreen(minX, maxY);
      const width = (maxX - minX) * camera.scale;
      const height = (maxY - minY) * camera.scale;
      context.fillRect(corner.x, corner.y, width, height);
      context.strokeRect(corner.x + 0.5, corner.y + 0.5, width - 1, height - 1);
    }
    context.strokeStyle = "#56687e";
    context.lineWidth = 2;
    context.strokeRect(topLeft.x, topLeft.y, map.width * camera.scale, map.height * camera.scale);
  }

  function drawEntity(game, state, position, own) {
    const screen = camera.toScreen(position.x, position.y);
    const alive = (state.flags & FLAGS.ALIVE) !== 0;
    if (state.kind === KIND.PROJECTILE) {
      context.fillStyle = "#ffd166";
      context.beginPath();
      context.arc(screen.x, screen.y, Math.max(2, 0.15 * camera.scale), 0, 2 * Math.PI);
      context.fill();
      return;
    }
    const radius = (state.kind === KIND.PLAYER ? game.rules.player_radius : 0.5) * camera.scale;
    context.globalAlpha = alive ? 1 : 0.25;
    if (state.kind === KIND.NPC) {
      context.fillStyle = "#9b7ede";
      context.beginPath();
      context.arc(screen.x, screen.y, radius, 0, 2 * Math.PI);
      context.fill();
      drawHealth(screen, radius, state.health, 50);
      context.globalAlpha = 1;
      return;
    }
    const aim = own ? game.aimAngle : aimFromWire(state.aim);
    context.strokeStyle = own ? "#b3e5fc" : "#ffab91";
    context.lineWidth = Math.max(2, radius * 0.3);
    context.beginPath();
    context.moveTo(screen.x, screen.y);
    context.lineTo(screen.x + Math.cos(aim) * radius * 1.7, screen.y - Math.sin(aim) * radius * 1.7);
    context.stroke();
    context.fillStyle = own ? "#4fc3f7" : "#ff7043";
    context.beginPath();
    context.arc(screen.x, screen.y, radius, 0, 2 * Math.PI);
    context.fill();
    if (own) {
      context.strokeStyle = "#ffffff";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(screen.x, screen.y, radius + 3, 0, 2 * Math.PI);
      context.stroke();
    }
    if (alive) drawHealth(screen, radius, state.health, 100);
    const name = own ? session?.options.name : game.names.get(state.id);
    if (name) {
      context.font = `${own ? "600 " : ""}12px system-ui, sans-serif`;
      context.textAlign = "center";
      context.textBaseline = "bottom";
      context.fillStyle = own ? "#e1f5fe" : "#eceff4";
      context.fillText(name, screen.x, screen.y - radius - 9);
    }
    context.globalAlpha = 1;
  }

  function drawHealth(screen, radius, health, max) {
    const width = Math.max(24, radius * 2.4);
    const fraction = Math.min(1, health / Math.max(max, health));
    const x = screen.x - width / 2;
    const y = screen.y - radius - 7;
    context.fillStyle = "rgba(0, 0, 0, 0.6)";
    context.fillRect(x, y, width, 4);
    context.fillStyle = fraction > 0.5 ? "#7bd88f" : fraction > 0.25 ? "#f5c451" : "#ff6b6b";
    context.fillRect(x, y, width * fraction, 4);
  }

  function drawTracers(now) {
    while (tracers.length > 0 && now - tracers[0].at > TRACER_TTL_MS) tracers.shift();
    for (const tracer of tracers) {
      const life = 1 - (now - tracer.at) / TRACER_TTL_MS;
      const from = camera.toScreen(tracer.from.x, tracer.from.y);
      const to = camera.toScreen(tracer.to.x, tracer.to.y);
      context.strokeStyle = tracer.hit ? `rgba(255, 120, 100, ${life})` : `rgba(220, 240, 255, ${life * 0.8})`;
      context.lineWidth = tracer.own ? 2.5 : 1.5;
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x, to.y);
      context.stroke();
    }
  }

  // --- Status line.
  let lastStatusAt = 0;
  /** Byte counters sampled every 250 ms; rates are over the last second of samples. */
  const byteSamples = [];
  let rates = { bytesIn: 0, bytesOut: 0 };

  function renderStatus(now) {
    if (now - lastStatusAt < 250) return;
    lastStatusAt = now;
    while (stats.window.length > 0 && now - stats.window[0] > 1000) stats.window.shift();
    byteSamples.push({ at: now, in: stats.bytesIn, out: stats.bytesOut });
    while (byteSamples.length > 1 && now - byteSamples[0].at > 1000) byteSamples.shift();
    const oldest = byteSamples[0];
    const seconds = (now - oldest.at) / 1000;
    if (seconds > 0.2) {
      rates = { bytesIn: (stats.bytesIn - oldest.in) / seconds, bytesOut: (stats.bytesOut - oldest.out) / seconds };
    }
    const game = link?.game ?? null;
    elements.room.textContent = game ? `room ${game.welcome.room}${game.spectator ? " (spectating)" : ""}` : "";
    elements.ping.textContent = game && stats.rttMs !== null ? `ping ${Math.round(stats.rttMs)} ms` : "";
    elements.tick.textContent = game ? `tick ${Math.floor(game.timeline.serverTick(now))}` : "";
    elements.rate.textContent = game ? `${stats.window.length} snapshots/s` : "";
    elements.bytes.textContent = game ? `↓ ${kilobytes(rates.bytesIn)} ↑ ${kilobytes(rates.bytesOut)}` : "";
    elements.prediction.textContent =
      game && !game.spectator ? `corrections ${game.corrections}` : "";
  }

  function kilobytes(perSecond) {
    return `${(perSecond / 1000).toFixed(1)} kB/s`;
  }

  // --- The test hook: what a browser test can assert without reading pixels.
  window.tickwire = {
    state() {
      const game = link?.game ?? null;
      const now = performance.now();
      const own = game ? ownDrawPosition(game, now) : null;
      return {
        connected: connection.state === "connected",
        connection: connection.state,
        status: connection.text,
        room: game?.welcome.room ?? null,
        map: game ? { width: game.map.width, height: game.map.height, walls: game.map.walls.length } : null,
        player: game?.welcome.player ?? 0,
        ownEntity: game?.welcome.entity ?? 0,
        spectator: game?.spectator ?? false,
        resumed: game?.welcome.resumed ?? false,
        reconnects: session?.reconnects ?? lastEnded?.reconnects ?? 0,
        ownPosition: own ? { x: own.x, y: own.y } : null,
        serverPosition: game?.predicted ? { ...game.predicted.pos } : null,
        entities: drawn.map((entity) => ({ ...entity })),
        tick: game?.lastSnapshotTick ?? 0,
        serverTick: game ? Math.floor(game.timeline.serverTick(now)) : 0,
        interpolationDelayTicks: game ? game.timeline.delayTicks(now) : 0,
        snapshots: stats.snapshots,
        snapshotErrors: game?.snapshotErrors ?? 0,
        scores: game ? game.scores.map((row) => ({ ...row })) : [],
        chat: chatLines.map((line) => ({ ...line })),
        feed: feed.map((entry) => ({ killer: entry.killer, victim: entry.victim })),
        shots: { ...shots },
        tracers: tracers.length,
        pingMs: stats.rttMs,
        corrections: game?.corrections ?? 0,
        predictionErrorsM: game ? [...game.errors] : [],
        closed: session?.lastClose ?? lastEnded?.closed ?? null,
      };
    },
  };

  requestAnimationFrame(frame);
}

if (typeof document !== "undefined" && typeof window !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
}

// Names used only by tests and tools.
export { RECONNECT_CODES, RESUME_TOKEN_LEN };
