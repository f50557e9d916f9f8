// The JavaScript movement port (movement.js) against tickwire_arena::move_player: replays the
// traces crates/arena/tests/web_twins.rs writes (tests/twins/movement.json) and requires every
// step's position and velocity to be the Rust f32 bits exactly; then the prediction built on it.
// Run: node --test crates/arena/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { arenaPrediction, movePlayer, sanitizeRules, snapAxis } from "./movement.js";
import { Predictor, posToWire, velToWire } from "./tickwire.js";

const twin = JSON.parse(readFileSync(new URL("../tests/twins/movement.json", import.meta.url), "utf8"));

const bitsView = new DataView(new ArrayBuffer(4));
function fromBits(bits) {
  bitsView.setUint32(0, bits);
  return bitsView.getFloat32(0);
}
function toBits(value) {
  bitsView.setFloat32(0, value);
  return bitsView.getUint32(0);
}
const rulesFromBits = ([player_radius, max_speed, accel, friction]) => ({
  player_radius: fromBits(player_radius),
  max_speed: fromBits(max_speed),
  accel: fromBits(accel),
  friction: fromBits(friction),
});

test("the traces cover walls, edges, extreme rules and garbage", () => {
  const names = twin.traces.map((trace) => trace.name);
  for (const name of ["walled_30hz", "arena_60hz", "fast_small_20hz", "big_radius_30hz", "garbage_128hz"]) {
    assert.ok(names.includes(name), name);
  }
  const steps = twin.traces.reduce((sum, trace) => sum + trace.steps.length, 0);
  assert.ok(steps >= 3000, `${steps} steps`);
});

test("movePlayer matches move_player bit for bit on every step of every trace", () => {
  for (const trace of twin.traces) {
    const rules = sanitizeRules(rulesFromBits(trace.rules_bits));
    // The Welcome carries f32 values; JSON numbers are read back to the same f32s.
    const map = {
      width: Math.fround(trace.map.width),
      height: Math.fround(trace.map.height),
      walls: trace.map.walls.map((wall) => wall.map(Math.fround)),
    };
    const dt = Math.fround(1 / trace.tick_rate);
    assert.equal(toBits(dt), trace.dt_bits, `${trace.name}: dt`);
    const [px, py, vx, vy] = trace.start_bits.map(fromBits);
    let state = { pos: { x: px, y: py }, vel: { x: vx, y: vy } };
    trace.steps.forEach(([move_x, move_y, ...expected], step) => {
      state = movePlayer(rules, map, dt, state.pos, state.vel, { move_x, move_y, aim: 0, buttons: 0, view_age: 0 });
      const actual = [state.pos.x, state.pos.y, state.vel.x, state.vel.y].map(toBits);
      if (actual.some((bits, index) => bits !== expected[index])) {
        const show = (bits) => bits.map((value) => fromBits(value)).join(", ");
        assert.fail(
          `${trace.name}, step ${step} (move ${move_x}, ${move_y}): JavaScript (${show(actual)}), ` +
            `Rust (${show(expected)})`,
        );
      }
    });
  }
});

test("sanitizeRules matches Rules::sanitized bit for bit", () => {
  for (const sample of twin.sanitize) {
    const rules = sanitizeRules(rulesFromBits(sample.in));
    assert.deepEqual(
      [rules.player_radius, rules.max_speed, rules.accel, rules.friction].map(toBits),
      sample.out,
      JSON.stringify(sample.in),
    );
  }
});

const WELCOME = {
  tick_rate: 30,
  setup: {
    map: { name: "t", width: 40, height: 30, walls: [[20, 0, 21, 30]] },
    rules: { player_radius: 0.5, max_speed: 6, accel: 40, friction: 30 },
  },
};
const cmd = (move_x, move_y) => ({ move_x, move_y, aim: 0, buttons: 0, view_age: 0 });

test("movePlayer slides along a wall, stays on the grid and inside the map", () => {
  const prediction = arenaPrediction(WELCOME);
  let state = { pos: { x: 19, y: 15 }, vel: { x: 5, y: 5 } };
  for (let step = 0; step < 10; step++) state = prediction.step(state, cmd(90, 90));
  assert.ok(state.pos.x <= 19.5, `${state.pos.x}`);
  assert.equal(state.vel.x, 0);
  assert.ok(state.vel.y > 0 && state.pos.y > 15);
  assert.equal(snapAxis(state.pos.y), state.pos.y);
  let corner = { pos: { x: 1, y: 29 }, vel: { x: -6, y: 6 } };
  for (let step = 0; step < 10; step++) corner = prediction.step(corner, cmd(-127, 127));
  assert.deepEqual(corner.pos, { x: 0.5, y: 29.5 });
});

test("the arena's prediction keeps its unrounded velocity when it rounds to the record", () => {
  const prediction = arenaPrediction(WELCOME);
  const dt = prediction.dt;
  const predicted = prediction.step({ pos: { x: 5, y: 5 }, vel: { x: 0, y: 0 } }, cmd(127, 0));
  const record = {
    id: 1,
    kind: 0,
    x: posToWire(predicted.pos.x),
    y: posToWire(predicted.pos.y),
    vx: velToWire(predicted.vel.x, dt),
    vy: velToWire(predicted.vel.y, dt),
    aim: 0,
    health: 100,
    flags: 1,
  };
  assert.deepEqual(prediction.state(record, predicted), predicted);
  // Another prediction that rounds elsewhere: the record's (rounded) velocity wins.
  const other = { pos: predicted.pos, vel: { x: predicted.vel.x + 1, y: 0 } };
  assert.notDeepEqual(prediction.state(record, other).vel, other.vel);
  // Dead: the server decides.
  assert.equal(prediction.followsServer({ ...record, flags: 0 }), true);
  assert.equal(prediction.followsServer(record), false);
});

test("with the core's Predictor, a server that applies the same commands gives no error", () => {
  const prediction = arenaPrediction(WELCOME);
  const predictor = new Predictor(prediction);
  // The "server": the same rule, quantized into records each snapshot.
  let server = { pos: { x: 5, y: 5 }, vel: { x: 0, y: 0 } };
  const toRecord = (state) => ({
    id: 1,
    kind: 0,
    x: posToWire(state.pos.x),
    y: posToWire(state.pos.y),
    vx: velToWire(state.vel.x, prediction.dt),
    vy: velToWire(state.vel.y, prediction.dt),
    aim: 0,
    health: 100,
    flags: 1,
  });
  predictor.handleSnapshot(toRecord(server), 0);
  const commands = [];
  for (let seq = 1; seq <= 120; seq++) {
    const command = cmd(seq % 40 < 20 ? 127 : -64, seq % 30 < 10 ? 0 : 100);
    commands.push(command);
    predictor.handleInput(seq, command);
    // The server is three commands behind.
    if (seq > 3 && seq % 2 === 0) {
      while (commands.length > 3) server = prediction.step(server, commands.shift());
      predictor.handleSnapshot(toRecord(server), seq - 3);
    }
  }
  assert.ok(predictor.errors.length > 50);
  assert.ok(predictor.errors.every((error) => error === 0), `errors ${predictor.errors.filter((e) => e !== 0)}`);
  assert.equal(predictor.corrections, 0);
});
