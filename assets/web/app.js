// tickwire's browser page: the engine's core around a game module. It owns the join form, the
// connection (session.js: resume and backoff), the per-tick input schedule with acknowledgements
// (schedule.js), the replica (replica.js), the timeline (timeline.js), own-entity prediction
// bookkeeping (predict.js), chat, the status line, the scoreboard container and the test hook
// (window.tickwire.state()). The game module, served at /game.js, brings its wire schema, its
// command sampling, its prediction rules if any, its rendering and its HUD; README.md in this
// directory is the interface between the two.
//
// How it runs, per connection:
// - Welcome: a new replica, timeline and recent-views buffer; a Predictor when the game predicts
//   and the player has an own entity; then the module's client.start(context).
// - Every server tick (a drift-corrected timer): a player samples one command from the module,
//   numbers it, sends it with the unacknowledged ones and the snapshot ack, and predicts it; a
//   spectator only acknowledges.
// - Every snapshot: the replica rebuilds the view; the timeline and the recent views take it; the
//   input schedule drops the applied commands; the predictor reconciles; then the module hears it.
// - Every animation frame: the module renders; the status line updates.
// - On an abnormal close the session resumes as the same player when the server still holds it.
//
// A plain ES module with no dependencies and no build step; the server embeds it with the rest
// of assets/web. Only the browser loads it (node tests import the modules it is built from).

import { Predictor } from "./predict.js";
import { CLOSE, LIMITS, createCodec, utf8Length, validateName, validateRoom } from "./protocol.js";
import { Replica } from "./replica.js";
import { InputSchedule } from "./schedule.js";
import { DEFAULT_GRACE_MS, Session } from "./session.js";
import { Frames, Timeline } from "./timeline.js";

const CHAT_LINES_MAX = 100;
/** Recent views kept for interpolation. */
const FRAMES_MAX = 64;
/** How long a good-news banner stays, in milliseconds. */
const BANNER_MS = 3000;

function boot() {
  const params = new URLSearchParams(location.search);
  const elements = {
    root: document.getElementById("game"),
    join: document.getElementById("join"),
    joinTagline: document.getElementById("join-tagline"),
    joinHelp: document.getElementById("join-help"),
    joinName: document.getElementById("join-name"),
    joinRoom: document.getElementById("join-room"),
    joinSpectate: document.getElementById("join-spectate"),
    joinToken: document.getElementById("join-token"),
    joinButton: document.getElementById("join-button"),
    joinError: document.getElementById("join-error"),
    banner: document.getElementById("banner"),
    scoreboard: document.getElementById("scoreboard"),
    scoresHead: document.getElementById("scores-head"),
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
  const serverUrl =
    params.get("server") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const graceMs = Number(params.get("grace")) > 0 ? 1000 * Number(params.get("grace")) : DEFAULT_GRACE_MS;

  // --- Everything the page knows. `session` lives from Join to the final close (across
  // reconnects); `play` is one welcomed connection.
  let game = null;
  let codec = null;
  let client = null;
  let session = null;
  let play = null;
  /** The session that ended last (for the test hook after a final close). */
  let lastEnded = null;
  const stats = { snapshots: 0, window: [], rttMs: null, pingNonce: 0, pings: new Map() };
  const chatLines = [];

  setConnection("idle", "loading the game…");
  elements.joinButton.disabled = true;
  import("./game.js")
    .then((module) => start(module))
    .catch((error) => {
      console.error("tickwire: the game module did not load", error);
      setConnection("closed", "no game module");
      elements.joinError.textContent = `This server's game has no browser client (${error.message}).`;
    });

  /** The module is loaded: check it, set the page up for it, and enable joining. */
  function start(module) {
    if (typeof module.schema !== "object" || typeof module.mount !== "function") {
      throw new Error("/game.js must export `schema` and `mount` (see assets/web/README.md)");
    }
    game = module;
    codec = createCodec(game.schema);
    const page = game.page ?? {};
    for (const href of page.stylesheets ?? []) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = href;
      document.head.append(link);
    }
    if (page.title) document.title = page.title;
    elements.joinTagline.textContent = page.tagline ?? "";
    elements.joinHelp.textContent = page.help ?? "";
    renderScoresHead();
    client = game.mount(elements.root, {
      banner: showBanner,
      system: addSystemLine,
      typing: () => document.activeElement === elements.chatInput,
    });
    elements.joinButton.disabled = false;
    setConnection("idle", "not connected");
    requestAnimationFrame(frame);
    if (params.get("spectate") === "1") {
      // Spectator links join at once: /?spectate=1&room=R.
      const room = params.get("room");
      startSession({ name: params.get("name") || "spectator", room: room || null, spectate: true, token: null });
    }
  }

  // --- Join form.
  elements.joinName.value = params.get("name") ?? storage("tickwire.name") ?? "";
  elements.joinRoom.value = params.get("room") ?? "";
  elements.joinSpectate.checked = params.get("spectate") === "1";
  elements.join.addEventListener("submit", (event) => {
    event.preventDefault();
    if (game === null) return;
    const name = elements.joinName.value.trim();
    const room = elements.joinRoom.value.trim();
    const token = elements.joinToken.value.trim();
    try {
      validateName(name);
      if (room !== "") validateRoom(room);
      if (token !== "" && utf8Length(token) > LIMITS.TOKEN_MAX) {
        throw new Error(`the token is longer than ${LIMITS.TOKEN_MAX} bytes`);
      }
    } catch (error) {
      elements.joinError.textContent = `Cannot join: ${error.message}.`;
      return;
    }
    storage("tickwire.name", name);
    startSession({ name, room: room || null, spectate: elements.joinSpectate.checked, token: token || null });
  });
  elements.leave.addEventListener("click", () => session?.leave());

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
    // Keys now steer the game, not the form.
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur();
    chatLines.length = 0;
    elements.chatLog.replaceChildren();
    const schedule = new InputSchedule(game.schema.input.withViewAge);
    session = new Session({
      url: serverUrl,
      codec,
      options,
      graceMs,
      handlers: {
        state: setConnection,
        welcome: (welcome) => handleWelcome(welcome, schedule),
        message: handleMessage,
        linkClosed: stopPlay,
        notice: showBanner,
        system: addSystemLine,
        ended: endSession,
      },
    });
    session.start();
  }

  function endSession(closed) {
    const detail = closed.reason && closed.code !== CLOSE.NORMAL ? ` (${closed.reason})` : "";
    showBanner(closed.code === CLOSE.NORMAL ? null : `${closed.text}${detail}`, true);
    addSystemLine(`${closed.text}${detail}`);
    elements.leave.hidden = true;
    elements.chatInput.disabled = true;
    elements.join.hidden = false;
    elements.joinError.textContent = closed.code === CLOSE.NORMAL ? "" : closed.text;
    lastEnded = session;
    session = null;
  }

  // --- One welcomed connection.
  function handleWelcome(welcome, schedule) {
    stopPlay();
    const spectator = session.spectator;
    const entity = welcome.entity;
    const prediction = !spectator && entity !== 0 ? (game.prediction?.(welcome) ?? null) : null;
    schedule.handleWelcome(welcome.tick_rate, welcome.resumed);
    play = {
      welcome,
      spectator,
      schedule,
      // Every Welcome starts from a full snapshot: the server forgot our acknowledgements.
      replica: new Replica(game.schema),
      timeline: new Timeline(welcome.tick_rate, welcome.snapshot_interval),
      frames: new Frames(FRAMES_MAX, game.schema.record.id),
      predictor: prediction === null ? null : new Predictor(prediction),
      tickMs: 1000 / welcome.tick_rate,
      lastSnapshotTick: 0,
      snapshotErrors: 0,
      scores: null,
      nextInputAt: 0,
      inputTimer: null,
      pingTimer: null,
    };
    elements.leave.hidden = false;
    elements.chatInput.disabled = false;
    showBanner(welcome.resumed ? "Reconnected: you are back in the game." : null);
    addSystemLine(
      welcome.resumed
        ? `Reconnected to room ${welcome.room}.`
        : `Joined room ${welcome.room}${spectator ? " as a spectator" : ""}.`,
    );
    client.start?.({
      welcome,
      setup: welcome.setup,
      spectator,
      player: welcome.player,
      entity,
      name: session.options.name,
      replica: play.replica,
      timeline: play.timeline,
      frames: play.frames,
      predictor: play.predictor,
    });
    scheduleInput(play);
    play.pingTimer = setInterval(sendPing, 1000);
    sendPing();
  }

  /** The connection closed: stop its timers and tell the module (it keeps its DOM). */
  function stopPlay() {
    if (play === null) return;
    clearTimeout(play.inputTimer);
    clearInterval(play.pingTimer);
    play = null;
    client.stop?.();
  }

  function handleMessage(message) {
    if (message.Snapshot) handleSnapshot(message.Snapshot);
    else if (message.Events) handleEvents(message.Events);
    else if (message.Chat) addChat(message.Chat);
    else if (message.Pong) handlePong(message.Pong);
  }

  function handleSnapshot(snapshot) {
    if (play === null) return;
    const now = performance.now();
    stats.snapshots += 1;
    stats.window.push(now);
    try {
      play.replica.handleSnapshot(snapshot);
    } catch (error) {
      // Ask for a full snapshot: acknowledge 0 from now on.
      play.snapshotErrors += 1;
      console.warn("tickwire: snapshot refused, asking for a full one", error);
      play.replica.reset();
      return;
    }
    play.timeline.handleSnapshot(snapshot.tick, now);
    play.frames.handleSnapshot(snapshot.tick, play.replica.view());
    play.lastSnapshotTick = snapshot.tick;
    if (!play.spectator) play.schedule.handleSnapshot(snapshot.last_input);
    if (play.replica.scores() !== play.scores) {
      play.scores = play.replica.scores();
      renderScores();
    }
    if (play.predictor !== null) {
      const own = play.replica.entity(play.welcome.entity);
      if (own !== undefined) {
        const step = play.predictor.handleSnapshot(own, snapshot.last_input);
        client.handlePredicted?.({ ...step, reconciled: true, now });
      }
    }
    client.handleSnapshot?.(snapshot, now);
  }

  function handleEvents(message) {
    if (play === null) return;
    client.handleEvents?.(message.tick, message.events, performance.now());
  }

  function handlePong(pong) {
    const sentAt = stats.pings.get(pong.nonce);
    if (sentAt === undefined) return;
    stats.pings.delete(pong.nonce);
    const rtt = performance.now() - sentAt;
    stats.rttMs = stats.rttMs === null ? rtt : stats.rttMs + (rtt - stats.rttMs) * 0.3;
  }

  function sendPing() {
    stats.pingNonce = (stats.pingNonce + 1) >>> 0;
    if (session?.send({ Ping: { nonce: stats.pingNonce } })) stats.pings.set(stats.pingNonce, performance.now());
    // Forget pings that were never answered.
    for (const nonce of stats.pings.keys()) if (stats.pings.size > 10) stats.pings.delete(nonce);
  }

  // --- Input: one command per server tick.
  function scheduleInput(current) {
    const run = () => {
      if (play !== current) return;
      inputTick(current);
      current.nextInputAt += current.tickMs;
      const now = performance.now();
      // After a long stall (a background tab), do not send a burst to catch up.
      if (now - current.nextInputAt > 4 * current.tickMs) current.nextInputAt = now + current.tickMs;
      current.inputTimer = setTimeout(run, Math.max(0, current.nextInputAt - now));
    };
    current.nextInputAt = performance.now();
    run();
  }

  function inputTick(current) {
    const ack = current.replica.ackTick();
    if (current.spectator || !current.schedule.ready()) {
      // Spectators only acknowledge, when there is something new to acknowledge; a resumed
      // player waits for its first snapshot to number its commands on from the server's.
      const message = current.schedule.handleIdle(ack);
      if (message !== null) session.send(message);
      return;
    }
    const now = performance.now();
    const cmd = client.sample?.(now) ?? game.schema.input.idle();
    // The tick others are shown at as this command is sampled (for lag compensation).
    const viewTick = Math.max(0, Math.round(current.timeline.renderTick(now)));
    const { seq, message } = current.schedule.handleCommand(cmd, viewTick, ack);
    if (message !== null) session.send(message);
    if (current.predictor !== null) {
      const step = current.predictor.handleInput(seq, cmd);
      client.handlePredicted?.({ ...step, reconciled: false, following: current.predictor.following, now });
    }
  }

  // --- Every animation frame.
  function frame(now) {
    client.render?.(now);
    renderStatus(now);
    requestAnimationFrame(frame);
  }

  // --- Keys the page owns: Enter opens the chat, Escape leaves it.
  window.addEventListener("keydown", (event) => {
    if (document.activeElement === elements.chatInput) {
      if (event.key === "Escape") elements.chatInput.blur();
      return;
    }
    if (event.key === "Enter" && play !== null && !elements.chatInput.disabled) {
      event.preventDefault();
      elements.chatInput.focus();
    }
  });

  // --- Chat.
  elements.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    // Control characters are not allowed on the wire; newlines cannot be typed here anyway.
    const text = elements.chatInput.value.replace(/\p{Cc}/gu, " ").trim();
    if (text === "") {
      elements.chatInput.blur();
      return;
    }
    if (utf8Length(text) > LIMITS.CHAT_MAX) {
      addSystemLine(`That message is longer than ${LIMITS.CHAT_MAX} bytes.`);
      return;
    }
    if (session?.send({ Chat: { text } })) {
      elements.chatInput.value = "";
      // Back to the game: the keys control it again.
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

  // --- Scoreboard: the stats table, in the columns the game names.
  function renderScoresHead() {
    const board = game.page?.scoreboard;
    elements.scoreboard.hidden = !board;
    if (!board) return;
    elements.scoresHead.replaceChildren(
      ...board.columns.map((column) => {
        const th = document.createElement("th");
        th.textContent = column.label;
        if (column.title) th.title = column.title;
        return th;
      }),
    );
  }

  function renderScores() {
    const board = game.page?.scoreboard;
    if (!board || play === null) return;
    const playerOf = game.schema.stats.player ?? ((row) => row.player);
    const rows = [...play.scores];
    if (board.compare) rows.sort(board.compare);
    elements.scores.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        if (playerOf(row) === play.welcome.player && !play.spectator) tr.className = "own";
        for (const column of board.columns) {
          const td = document.createElement("td");
          td.textContent = String(column.value(row));
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  // --- Status line and banner.
  function setConnection(state, text) {
    elements.state.className = `state state-${state}`;
    elements.state.textContent = text;
  }

  function showBanner(text, bad = false) {
    elements.banner.hidden = !text;
    elements.banner.textContent = text ?? "";
    elements.banner.classList.toggle("bad", bad);
    clearTimeout(showBanner.timer);
    if (text && !bad) showBanner.timer = setTimeout(() => (elements.banner.hidden = true), BANNER_MS);
  }

  let lastStatusAt = 0;
  /** Byte counters sampled every 250 ms; rates are over the last second of samples. */
  const byteSamples = [];
  let rates = { bytesIn: 0, bytesOut: 0 };

  function renderStatus(now) {
    if (now - lastStatusAt < 250) return;
    lastStatusAt = now;
    while (stats.window.length > 0 && now - stats.window[0] > 1000) stats.window.shift();
    const bytesIn = session?.bytesIn ?? 0;
    const bytesOut = session?.bytesOut ?? 0;
    byteSamples.push({ at: now, in: bytesIn, out: bytesOut });
    while (byteSamples.length > 1 && now - byteSamples[0].at > 1000) byteSamples.shift();
    const oldest = byteSamples[0];
    const seconds = (now - oldest.at) / 1000;
    if (seconds > 0.2 && bytesIn >= oldest.in) {
      rates = { bytesIn: (bytesIn - oldest.in) / seconds, bytesOut: (bytesOut - oldest.out) / seconds };
    }
    const on = play !== null;
    elements.room.textContent = on ? `room ${play.welcome.room}${play.spectator ? " (spectating)" : ""}` : "";
    elements.ping.textContent = on && stats.rttMs !== null ? `ping ${Math.round(stats.rttMs)} ms` : "";
    elements.tick.textContent = on ? `tick ${Math.floor(play.timeline.serverTick(now))}` : "";
    elements.rate.textContent = on ? `${stats.window.length} snapshots/s` : "";
    elements.bytes.textContent = on ? `↓ ${kilobytes(rates.bytesIn)} ↑ ${kilobytes(rates.bytesOut)}` : "";
    elements.prediction.textContent = on && play.predictor !== null ? `corrections ${play.predictor.corrections}` : "";
  }

  function kilobytes(perSecond) {
    return `${(perSecond / 1000).toFixed(1)} kB/s`;
  }

  // --- The test hook: what a browser test can assert without reading pixels. `module` is the
  // game module's own part (client.testState), whatever it chooses to show.
  window.tickwire = {
    state() {
      const now = performance.now();
      const current = session ?? lastEnded;
      return {
        connected: session?.connected ?? false,
        connection: current?.state ?? "idle",
        status: current?.stateText ?? elements.state.textContent,
        game: game?.schema.name ?? null,
        room: play?.welcome.room ?? null,
        player: play?.welcome.player ?? 0,
        ownEntity: play?.welcome.entity ?? 0,
        spectator: play?.spectator ?? false,
        resumed: play?.welcome.resumed ?? false,
        reconnects: current?.reconnects ?? 0,
        tick: play?.lastSnapshotTick ?? 0,
        serverTick: play ? Math.floor(play.timeline.serverTick(now)) : 0,
        interpolationDelayTicks: play ? play.timeline.delayTicks(now) : 0,
        snapshots: stats.snapshots,
        snapshotErrors: play?.snapshotErrors ?? 0,
        scores: play ? play.replica.scores().map((row) => structuredClone(row)) : [],
        chat: chatLines.map((line) => ({ ...line })),
        pingMs: stats.rttMs,
        corrections: play?.predictor?.corrections ?? 0,
        predictionErrors: play?.predictor ? [...play.predictor.errors] : [],
        closed: current?.closed ?? null,
        module: client?.testState?.(now) ?? null,
      };
    },
  };
}

if (typeof document !== "undefined" && typeof window !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
}
