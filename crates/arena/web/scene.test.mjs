// Where the arena shows others (scene.js's interpolate over the core's Frames), without a
// canvas. Run: node --test crates/arena/web/*.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { Camera, interpolate } from "./scene.js";
import { Frames } from "./tickwire.js";

const state = (id, x, vx = 0) => ({ id, kind: 0, x, y: 256, vx, vy: 0, aim: 0, health: 100, flags: 1 });

test("interpolate lerps between views, extrapolates briefly, and does not slide a respawn", () => {
  const frames = new Frames();
  frames.handleSnapshot(10, [state(1, 1000, 10), state(2, 256)]);
  frames.handleSnapshot(12, [state(1, 1020, 10), state(2, 40000)]);
  const at = (tick) => new Map(interpolate(frames.sample(tick), 3).map((entry) => [entry.state.id, entry.x]));
  assert.equal(at(11).get(1), 1010);
  assert.equal(at(11.5).get(2), 40000, "a 150 m jump is shown at once, not slid");
  assert.equal(at(10.5).get(2), 256);
  assert.equal(at(13).get(1), 1030, "extrapolated one tick");
  assert.equal(at(100).get(1), 1050, "extrapolation capped at 3 ticks");
  assert.equal(at(5).get(1), 1000, "before the oldest view: the oldest");
  assert.deepEqual(interpolate(new Frames().sample(10), 3), []);
});

test("interpolate shows the nearer record's other fields, and a leaving entity where it was", () => {
  const frames = new Frames();
  frames.handleSnapshot(10, [{ ...state(1, 1000), health: 100 }, state(3, 500, 5)]);
  frames.handleSnapshot(11, [{ ...state(1, 1010), health: 40 }]);
  const shown = (tick) => new Map(interpolate(frames.sample(tick), 3).map((entry) => [entry.state.id, entry]));
  assert.equal(shown(10.2).get(1).state.health, 100);
  assert.equal(shown(10.8).get(1).state.health, 40);
  assert.equal(shown(10.8).get(3).x, 500);
});

test("the camera maps world meters to canvas pixels and back, y up", () => {
  const camera = new Camera();
  camera.width = 800;
  camera.height = 600;
  camera.place({ width: 60, height: 40 }, null);
  const corner = camera.toScreen(0, 0);
  assert.ok(corner.y > camera.toScreen(0, 40).y, "north is up");
  const back = camera.toWorld(corner.x, corner.y);
  assert.ok(Math.abs(back.x) < 1e-9 && Math.abs(back.y) < 1e-9);
  // A large map follows the focus.
  camera.place({ width: 2000, height: 2000 }, { x: 1000, y: 700 });
  const center = camera.toWorld(400, 300);
  assert.ok(Math.abs(center.x - 1000) < 1e-9 && Math.abs(center.y - 700) < 1e-9);
});
