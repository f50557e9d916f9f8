// Tests for the core's client machinery without a browser: the timeline and recent views
// (timeline.js), the input schedule (schedule.js), prediction bookkeeping (predict.js) and the
// session's resume and backoff (session.js, with a fake WebSocket and clock). tests/browser/
// plays the whole page in Chromium. Run: node --test assets/web/*.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { Predictor } from "./predict.js";
import { CLOSE, LIMITS, createCodec } from "./protocol.js";
import { InputSchedule } from "./schedule.js";
import { BACKOFF_MS, Session, closeAction } from "./session.js";
import { EventQueue, Frames, Timeline } from "./timeline.js";

test("timeline: delay near two snapshot intervals, render tick never goes back", () => {
  const timeline = new Timeline(30, 2);
  const tickMs = 1000 / 30;
  let previous = -Infinity;
  for (let tick = 2; tick < 400; tick += 2) {
    // Arrivals with up to 10 ms of jitter.
    const arrival = tick * tickMs + 50 + ((tick * 7919) % 10);
    timeline.handleSnapshot(tick, arrival);
    for (const now of [arrival, arrival + 20, arrival + 40]) {
      const render = timeline.renderTick(now);
      assert.ok(render >= previous, `went back from ${previous} to ${render}`);
      previous = render;
    }
  }
  assert.ok(timeline.delay >= 4 && timeline.delay < 5, `delay ${timeline.delay}`);
  assert.ok(timeline.delayTicks(400 * tickMs + 50) >= 4);
  // A late burst does not pull the view back.
  const before = timeline.renderTick(400 * tickMs + 60);
  timeline.handleSnapshot(402, 402 * tickMs + 400);
  assert.ok(timeline.renderTick(400 * tickMs + 61) >= before);
});

test("frames: records between two views, past the newest, before the oldest", () => {
  const record = (id, x) => ({ id, x });
  const frames = new Frames(3);
  assert.deepEqual(frames.sample(10), []);
  frames.handleSnapshot(10, [record(1, 100), record(2, 0)]);
  frames.handleSnapshot(12, [record(1, 120), record(3, 7)]);
  const at = (tick) => frames.sample(tick).map(({ from, to, t, span, ahead }) => [from.id, to?.x ?? null, t, span, ahead]);
  // Halfway: 1 between its two records, 2 left (no `to`), 3 not shown until its view is reached.
  assert.deepEqual(at(11), [[1, 120, 0.5, 2, 0], [2, null, 0.5, 2, 0]]);
  assert.deepEqual(at(13.5), [[1, null, 0, 0, 1.5], [3, null, 0, 0, 1.5]]);
  assert.deepEqual(at(5), [[1, null, 0, 0, 0], [2, null, 0, 0, 0]]);
  frames.handleSnapshot(14, []);
  frames.handleSnapshot(16, []);
  assert.equal(frames.held(), 3);
});

test("event queue: events wait for the render tick, oldest first, bounded", () => {
  const queue = new EventQueue(100);
  for (const [tick, event] of [[10, "a"], [11, "b"], [11, "c"], [13, "d"]]) queue.push(tick, event);
  assert.deepEqual(queue.takeDue(9.5), []);
  assert.deepEqual(queue.takeDue(11.2), ["a", "b", "c"]);
  assert.equal(queue.length, 1);
  assert.deepEqual(queue.takeDue(20), ["d"]);
  const small = new EventQueue(3);
  for (const tick of [1, 2, 3, 4, 5]) small.push(tick, tick);
  assert.deepEqual(small.takeDue(100), [3, 4, 5]);
});

test("input schedule: numbered commands, redundant resends, acks and view ages", () => {
  const schedule = new InputSchedule((cmd, age) => ({ ...cmd, age }));
  schedule.handleWelcome(30, false);
  const sent = [];
  for (let tick = 1; tick <= 12; tick++) {
    const { seq, message } = schedule.handleCommand({ n: tick }, 100 + tick, 100 + tick + 4);
    assert.equal(seq, tick);
    sent.push(message.Input);
  }
  // At most INPUTS_PER_MSG_MAX per message, the newest last, each with its own view age.
  const last = sent.at(-1);
  assert.equal(last.cmds.length, LIMITS.INPUTS_PER_MSG_MAX);
  assert.equal(last.first_seq, 12 - LIMITS.INPUTS_PER_MSG_MAX + 1);
  assert.deepEqual(last.cmds.map((cmd) => cmd.n), [5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(last.ack_tick, 116);
  assert.deepEqual(last.cmds.map((cmd) => cmd.age), [11, 10, 9, 8, 7, 6, 5, 4]);
  // Applied commands are not resent.
  schedule.handleSnapshot(10);
  const { message } = schedule.handleCommand({ n: 13 }, 113, 117);
  assert.equal(message.Input.first_seq, 11);
  assert.deepEqual(message.Input.cmds.map((cmd) => cmd.n), [11, 12, 13]);
  // A resumed session numbers on from the server's last applied command, once it knows it.
  schedule.handleWelcome(30, true);
  assert.equal(schedule.ready(), false);
  schedule.handleSnapshot(40);
  assert.equal(schedule.ready(), true);
  assert.equal(schedule.handleCommand({ n: 0 }, 0, 0).seq, 41);
  // A fresh join starts again at 1.
  schedule.handleWelcome(30, false);
  assert.equal(schedule.handleCommand({ n: 0 }, 0, 0).seq, 1);
});

test("input schedule: above 60 Hz one message every few ticks; spectators only acknowledge", () => {
  const schedule = new InputSchedule();
  schedule.handleWelcome(128, false);
  const messages = Array.from({ length: 9 }, (_, tick) => schedule.handleCommand({}, 0, tick).message);
  assert.deepEqual(messages.map((message) => message !== null), [false, false, true, false, false, true, false, false, true]);
  assert.equal(messages[2].Input.cmds.length, 3);
  const watcher = new InputSchedule();
  watcher.handleWelcome(30, false);
  assert.equal(watcher.handleIdle(0), null, "nothing to acknowledge yet");
  assert.deepEqual(watcher.handleIdle(5), { Input: { ack_tick: 5, first_seq: 0, cmds: [] } });
  assert.equal(watcher.handleIdle(5), null, "nothing new");
  assert.equal(watcher.handleIdle(7).Input.ack_tick, 7);
});

/** A one-number game: the state is x, a command adds its `dx`. */
function counter(threshold = 0.5) {
  return {
    state: (record, predicted) => predicted ?? { x: record.x },
    step: (state, cmd) => ({ x: state.x + cmd.dx }),
    error: (a, b) => Math.abs(a.x - b.x),
    correctionThreshold: threshold,
    followsServer: (record) => record.dead === true,
  };
}

test("predictor: steps at once, reconciles, measures the error of the applied command", () => {
  const predictor = new Predictor({ ...counter(), state: (record) => ({ x: record.x }) });
  // Before the first snapshot commands are kept, not predicted.
  assert.deepEqual(predictor.handleInput(1, { dx: 1 }), { before: null, after: null });
  // The server applied nothing yet: the command is replayed on its state.
  let step = predictor.handleSnapshot({ x: 10 }, 0);
  assert.deepEqual(step, { before: null, after: { x: 11 }, following: false });
  predictor.handleInput(2, { dx: 2 });
  predictor.handleInput(3, { dx: 3 });
  assert.deepEqual(predictor.state(), { x: 16 });
  // The server applied 1 and 2 and agrees: no error, no correction.
  step = predictor.handleSnapshot({ x: 13 }, 2);
  assert.deepEqual(step.after, { x: 16 });
  assert.deepEqual(predictor.errors, [0]);
  assert.equal(predictor.corrections, 0);
  // The server disagrees about 3 by 1: one error of 1, and a correction (threshold 0.5).
  step = predictor.handleSnapshot({ x: 15 }, 3);
  assert.deepEqual(step, { before: { x: 16 }, after: { x: 15 }, following: false });
  assert.deepEqual(predictor.errors, [0, 1]);
  assert.equal(predictor.corrections, 1);
});

test("predictor: follows the server while it decides, without errors or stepping", () => {
  const predictor = new Predictor(counter());
  predictor.handleSnapshot({ x: 0 }, 0);
  predictor.handleInput(1, { dx: 5 });
  let step = predictor.handleSnapshot({ x: 50, dead: true }, 0);
  assert.deepEqual(step, { before: { x: 5 }, after: { x: 50 }, following: true });
  // While following, commands do not move the prediction.
  assert.deepEqual(predictor.handleInput(2, { dx: 5 }), { before: { x: 50 }, after: { x: 50 } });
  // The snapshot that ends it replays what is pending, still without counting.
  step = predictor.handleSnapshot({ x: 70 }, 1);
  assert.deepEqual(step, { before: { x: 50 }, after: { x: 75 }, following: false });
  assert.deepEqual(predictor.errors, []);
  assert.equal(predictor.corrections, 0);
});

test("predictor: the game may keep its own prediction when it rounds to the record", () => {
  const seen = [];
  const predictor = new Predictor({
    ...counter(),
    state(record, predicted) {
      seen.push(predicted);
      return { x: record.x };
    },
  });
  predictor.handleSnapshot({ x: 0 }, 0);
  predictor.handleInput(1, { dx: 2 });
  predictor.handleSnapshot({ x: 2 }, 1);
  assert.deepEqual(seen, [undefined, { x: 2 }]);
});

test("close actions: retry within the grace period, rejoin after a failed resume, else end", () => {
  const base = { leaving: false, resuming: false, everWelcomed: true, droppedForMs: 0, graceMs: 15000 };
  assert.equal(closeAction({ ...base, code: 1006 }), "retry");
  assert.equal(closeAction({ ...base, code: CLOSE.TIMEOUT }), "retry");
  assert.equal(closeAction({ ...base, code: 1006, droppedForMs: 15000 }), "end");
  assert.equal(closeAction({ ...base, code: 1006, everWelcomed: false }), "end");
  assert.equal(closeAction({ ...base, code: 1006, leaving: true }), "end");
  assert.equal(closeAction({ ...base, code: CLOSE.ROOM_FULL }), "end");
  assert.equal(closeAction({ ...base, code: CLOSE.GAME_MISMATCH }), "end");
  assert.equal(closeAction({ ...base, code: CLOSE.RESUME_FAILED, resuming: true }), "rejoin");
  assert.equal(closeAction({ ...base, code: CLOSE.TOKEN_IN_USE, resuming: true }), "retry");
  assert.equal(closeAction({ ...base, code: CLOSE.TOKEN_IN_USE }), "end");
});

// --- The session against a fake WebSocket and clock.

const SCHEMA = {
  name: "test",
  version: 7,
  setup: { type: ["struct", [["width", "f32"]]] },
  input: { type: ["struct", [["x", "i8"], ["view_age", "u8"]]], idle: () => ({ x: 0, view_age: 0 }) },
  stats: { type: ["struct", [["player", "u32"]]] },
  event: { type: ["enum", [["Beep", "unit"]]] },
};
const codec = createCodec(SCHEMA);

function fakeEnvironment() {
  const sockets = [];
  const timers = [];
  const env = {
    time: 0,
    now: () => env.time,
    random: () => 0.5,
    setTimeout(run, delay) {
      timers.push({ run, at: env.time + delay });
      return timers.length;
    },
    clearTimeout() {},
    /** Runs the next timer, moving the clock to it. */
    advance() {
      timers.sort((a, b) => a.at - b.at);
      const timer = timers.shift();
      env.time = Math.max(env.time, timer.at);
      timer.run();
      return timer;
    },
    timers,
    sockets,
    WebSocket: class {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.sent = [];
        this.listeners = {};
        sockets.push(this);
      }
      addEventListener(type, listener) {
        this.listeners[type] = listener;
      }
      send(bytes) {
        this.sent.push(codec.decodeClient(bytes));
      }
      close(code = 1005, reason = "") {
        this.drop(code, reason);
      }
      // Test controls.
      open() {
        this.readyState = 1;
        this.listeners.open?.();
      }
      receive(message) {
        this.listeners.message?.({ data: codec.encodeServer(message).buffer });
      }
      drop(code, reason = "") {
        this.readyState = 3;
        this.listeners.close?.({ code, reason });
      }
    },
  };
  return env;
}

function welcome(resumed, token = 9) {
  return {
    Welcome: {
      version: 4,
      player: 4,
      entity: 0,
      room: "r",
      tick_rate: 30,
      snapshot_interval: 1,
      tick: 1,
      setup: { width: 1 },
      resume_token: new Array(16).fill(token),
      resumed,
    },
  };
}

function session(env, events) {
  return new Session({
    url: "ws://test/ws",
    codec,
    options: { name: "ann", room: "r", spectate: false, token: null },
    graceMs: 5000,
    env,
    handlers: {
      state: (state) => events.push(`state ${state}`),
      welcome: (message) => events.push(`welcome resumed=${message.resumed}`),
      message: (message) => events.push(`message ${Object.keys(message)[0]}`),
      ended: (closed) => events.push(`ended ${closed.code}`),
    },
  });
}

test("session: Hello names the game; a drop resumes with the token after a backoff", () => {
  const env = fakeEnvironment();
  const events = [];
  const playing = session(env, events);
  playing.start();
  env.sockets[0].open();
  const hello = env.sockets[0].sent[0].Hello;
  assert.deepEqual([hello.game, hello.schema, hello.name, hello.room, hello.resume], ["test", 7, "ann", "r", null]);
  env.sockets[0].receive(welcome(false));
  env.sockets[0].receive({ Pong: { nonce: 1, tick: 2 } });
  assert.equal(playing.connected, true);
  env.sockets[0].drop(1006);
  assert.equal(env.timers[0].at, BACKOFF_MS[0]);
  env.advance();
  env.sockets[1].open();
  assert.deepEqual(env.sockets[1].sent[0].Hello.resume, new Array(16).fill(9));
  env.sockets[1].receive(welcome(true));
  assert.equal(playing.reconnects, 1);
  assert.deepEqual(events, [
    "state connecting",
    "state connected",
    "welcome resumed=false",
    "message Pong",
    "state reconnecting",
    "state reconnecting",
    "state connected",
    "welcome resumed=true",
  ]);
});

test("session: backoff grows until the grace period ends the session", () => {
  const env = fakeEnvironment();
  const events = [];
  const playing = session(env, events);
  playing.start();
  env.sockets[0].open();
  env.sockets[0].receive(welcome(false));
  env.sockets[0].drop(1006);
  const delays = [];
  while (playing.closed === null) {
    const before = env.time;
    const timer = env.advance();
    delays.push(timer.at - before);
    env.sockets.at(-1).drop(1006);
  }
  assert.deepEqual(delays.slice(0, 5), BACKOFF_MS);
  assert.equal(playing.closed.code, 1006);
  assert.match(playing.closed.text, /lost and could not be restored/);
  assert.equal(events.at(-1), "ended 1006");
});

test("session: a failed resume joins afresh; a refusal ends it; leaving is a normal close", () => {
  const env = fakeEnvironment();
  const events = [];
  const playing = session(env, events);
  playing.start();
  env.sockets[0].open();
  env.sockets[0].receive(welcome(false));
  env.sockets[0].drop(CLOSE.TIMEOUT);
  env.advance();
  env.sockets[1].open();
  // The server closes the resume with an Error first, then the close frame.
  env.sockets[1].receive({ Error: { code: CLOSE.RESUME_FAILED, reason: "expired" } });
  env.sockets[1].drop(1000);
  assert.equal(env.sockets.length, 3, "joined afresh at once");
  env.sockets[2].open();
  assert.equal(env.sockets[2].sent[0].Hello.resume, null);
  env.sockets[2].receive(welcome(false, 0));
  playing.leave();
  assert.equal(playing.closed.code, CLOSE.NORMAL);

  const refused = session(env, []);
  refused.start();
  env.sockets.at(-1).open();
  env.sockets.at(-1).drop(CLOSE.GAME_MISMATCH, "wrong game");
  assert.deepEqual([refused.closed.code, refused.closed.reason], [CLOSE.GAME_MISMATCH, "wrong game"]);
  assert.match(refused.closed.text, /another game/);
});

test("session: a Redirect is followed with its seat; 1012 joins again from the start", () => {
  const env = fakeEnvironment();
  const events = [];
  const playing = session(env, events);
  playing.start();
  env.sockets[0].open();
  assert.equal(env.sockets[0].sent[0].Hello.seat, null);
  // The node does not own the room: a Redirect, then Error and close 4014.
  env.sockets[0].receive({ Redirect: { url: "ws://owner/ws", room: "r", seat: "s1.x" } });
  env.sockets[0].receive({ Error: { code: CLOSE.REDIRECT, reason: "elsewhere" } });
  env.sockets[0].drop(CLOSE.REDIRECT);
  assert.equal(env.sockets.length, 2, "followed at once");
  assert.equal(env.sockets[1].url, "ws://owner/ws");
  env.sockets[1].open();
  assert.equal(env.sockets[1].sent[0].Hello.seat, "s1.x");
  env.sockets[1].receive(welcome(false));
  // The owner drains: 1012, and the session starts over at the first address, without a seat.
  env.sockets[1].receive({ Error: { code: CLOSE.SERVICE_RESTART, reason: "draining" } });
  env.sockets[1].drop(CLOSE.SERVICE_RESTART);
  assert.equal(env.sockets[2].url, "ws://test/ws");
  env.sockets[2].open();
  assert.equal(env.sockets[2].sent[0].Hello.seat, null);
  assert.equal(env.sockets[2].sent[0].Hello.resume, null);
  // A redirect without its Redirect message ends the session (nothing to follow).
  const lost = session(env, []);
  lost.start();
  env.sockets.at(-1).open();
  env.sockets.at(-1).drop(CLOSE.REDIRECT);
  assert.equal(lost.closed.code, CLOSE.REDIRECT);
});
