// Tests for the browser client's prediction and interpolation helpers (app.js), without a
// browser. Run: node --test assets/web/ (tests/browser/ plays the whole page in Chromium).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Timeline, interpolate, movePlayer, sanitizeRules, snapAxis, takeDueEvents } from "./app.js";

const f = Math.fround;
const RULES = sanitizeRules({ player_radius: 0.5, max_speed: 6, accel: 40, friction: 30 });
const OPEN = { width: 100, height: 100, walls: [] };
const DT = f(1 / 30);
const cmd = (move_x, move_y) => ({ move_x, move_y, aim: 0, buttons: 0, view_age: 0 });

function run(map, pos, vel, commands) {
  let state = { pos, vel };
  for (const command of commands) state = movePlayer(RULES, map, DT, state.pos, state.vel, command);
  return state;
}

test("movePlayer accelerates to exactly max speed, on the grid (physics.rs)", () => {
  const { pos, vel } = run(OPEN, { x: 10, y: 50 }, { x: 0, y: 0 }, Array(30).fill(cmd(127, 0)));
  assert.deepEqual(vel, { x: 6, y: 0 });
  assert.equal(snapAxis(pos.x), pos.x);
  assert.equal(pos.y, 50);
});

test("movePlayer: friction stops a player without input (physics.rs)", () => {
  const { pos, vel } = run(OPEN, { x: 10, y: 50 }, { x: 6, y: 0 }, Array(30).fill(cmd(0, 0)));
  assert.deepEqual(vel, { x: 0, y: 0 });
  assert.ok(pos.x > 10 && pos.x < 12, `${pos.x}`);
});

test("movePlayer slides along a wall and stays inside the map (physics.rs)", () => {
  const wall = { width: 100, height: 100, walls: [[20, 0, 21, 100]] };
  const { pos, vel } = run(wall, { x: 19, y: 50 }, { x: 5, y: 5 }, Array(10).fill(cmd(90, 90)));
  assert.ok(pos.x <= 19.5, `${pos.x}`);
  assert.equal(vel.x, 0);
  assert.ok(vel.y > 0 && pos.y > 50);
  const corner = run(OPEN, { x: 1, y: 99 }, { x: -6, y: 6 }, Array(10).fill(cmd(-127, 127)));
  assert.deepEqual(corner.pos, { x: 0.5, y: 99.5 });
});

test("movePlayer matches tickwire-sim bit for bit on a walled map", () => {
  // The same 600 steps through tickwire_sim::move_player (Rules::default(), dt = 1/30, this map)
  // end here, with this FNV-1a hash over the f32 bits of every step's pos.x, pos.y, vel.x, vel.y.
  const map = { width: 40, height: 30, walls: [[10, 5, 12, 25], [20, 14, 35, 16], [25, 0, 26, 8]] };
  const xs = [127, 0, -127, 90, 127];
  const ys = [0, 127, -64, -128];
  const bits = new DataView(new ArrayBuffer(4));
  let hash = 0x811c9dc5;
  let state = { pos: { x: 5, y: 5 }, vel: { x: 0, y: 0 } };
  for (let step = 0; step < 600; step++) {
    const idle = Math.floor(step / 45) % 7 === 6;
    const command = idle ? cmd(0, 0) : cmd(xs[Math.floor(step / 20) % 5], ys[Math.floor(step / 15) % 4]);
    state = movePlayer(RULES, map, DT, state.pos, state.vel, command);
    for (const value of [state.pos.x, state.pos.y, state.vel.x, state.vel.y]) {
      bits.setFloat32(0, value, true);
      for (let index = 0; index < 4; index++) hash = Math.imul(hash ^ bits.getUint8(index), 0x01000193);
    }
  }
  assert.deepEqual(state, { pos: { x: 24.31640625, y: 1.578125 }, vel: { x: 0, y: 0 } });
  assert.equal((hash >>> 0).toString(16), "30d14229");
});

test("movePlayer neutralises garbage", () => {
  const { pos, vel } = movePlayer(RULES, OPEN, NaN, { x: NaN, y: 1 }, { x: Infinity, y: 0 }, cmd(-128, 127));
  assert.deepEqual(pos, { x: 50, y: 50 });
  assert.deepEqual(vel, { x: 0, y: 0 });
  assert.deepEqual(sanitizeRules({ player_radius: NaN, max_speed: -1, accel: 1e9, friction: 3 }), {
    player_radius: 0.5,
    max_speed: 0,
    accel: 10000,
    friction: 3,
  });
});

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

test("interpolate lerps between frames, extrapolates briefly, and does not slide a respawn", () => {
  const state = (id, x, vx = 0) => ({ id, kind: 0, x, y: 256, vx, vy: 0, aim: 0, health: 100, flags: 1 });
  const frames = [
    { tick: 10, byId: new Map([[1, state(1, 1000, 10)], [2, state(2, 256)]]) },
    { tick: 12, byId: new Map([[1, state(1, 1020, 10)], [2, state(2, 40000)]]) },
  ];
  const at = (tick) => new Map(interpolate(frames, tick, 3).map((entry) => [entry.state.id, entry.x]));
  assert.equal(at(11).get(1), 1010);
  assert.equal(at(11.5).get(2), 40000, "a 150 m jump is shown at once, not slid");
  assert.equal(at(10.5).get(2), 256);
  assert.equal(at(13).get(1), 1030, "extrapolated one tick");
  assert.equal(at(100).get(1), 1050, "extrapolation capped at 3 ticks");
  assert.equal(at(5).get(1), 1000, "before the oldest frame: the oldest");
  assert.deepEqual(interpolate([], 10, 3), []);
});

test("takeDueEvents releases events once the view reaches their tick, oldest first", () => {
  const pending = [
    { tick: 10, event: "a" },
    { tick: 11, event: "b" },
    { tick: 11, event: "c" },
    { tick: 13, event: "d" },
  ];
  assert.deepEqual(takeDueEvents(pending, 9.5, 100), []);
  assert.deepEqual(takeDueEvents(pending, 11.2, 100), ["a", "b", "c"]);
  assert.deepEqual(pending, [{ tick: 13, event: "d" }]);
  assert.deepEqual(takeDueEvents(pending, 20, 100), ["d"]);
  assert.equal(pending.length, 0);
});

test("takeDueEvents keeps at most `max` waiting events, dropping the oldest", () => {
  const pending = [1, 2, 3, 4, 5].map((tick) => ({ tick, event: tick }));
  assert.deepEqual(takeDueEvents(pending, 0, 3), []);
  assert.deepEqual(pending.map((entry) => entry.tick), [3, 4, 5]);
});
