// The arena's movement rule for prediction: a port of tickwire_arena::move_player
// (crates/arena/src/physics.rs) in f32 arithmetic, and the prediction the core's Predictor runs.
//
// Every operation is rounded with Math.fround exactly where the Rust code rounds an f32, so for
// the same quantized command, position and velocity this gives the server's answer bit for bit.
// crates/arena/tests/web_twins.rs writes a trace of the Rust function (tests/twins/movement.json)
// that movement.test.mjs replays.

import { FLAGS } from "./wire.js";
import { axisFromWire, posFromWire, posToWire, roundHalfAway, velFromWire, velToWire } from "./tickwire.js";

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

function lengthSquared(x, y) {
  return f(f(x * x) + f(y * y));
}

function clampFinite(value, fallback, min, max) {
  return Number.isFinite(value) ? f(Math.min(Math.max(value, min), max)) : fallback;
}

/** Welcome.setup.rules as Rules::sanitized would leave them. */
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
 * wire command `cmd`, `dt` seconds. `map` is Welcome.setup.map ({width, height, walls}), `rules`
 * sanitizeRules(Welcome.setup.rules). Returns {pos, vel}.
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

/**
 * The arena's own-player prediction for the core's Predictor (the twin of the bot's
 * ArenaPrediction): the state is {pos, vel} in meters and m/s, stepped with movePlayer against
 * the Welcome's map and rules.
 */
export function arenaPrediction(welcome) {
  const map = welcome.setup.map;
  const rules = sanitizeRules(welcome.setup.rules);
  const dt = f(1 / welcome.tick_rate);
  return {
    map,
    rules,
    dt,
    correctionThreshold: 0.05,

    /**
     * The own record as a state. The wire's velocity is rounded to 1/256 m per tick; when this
     * client's prediction for the same command rounds to exactly the record, its unrounded
     * velocity is the server's, so it is kept (the next steps then match the server's exactly).
     */
    state(own, predicted) {
      const pos = { x: posFromWire(own.x), y: posFromWire(own.y) };
      if (
        predicted !== undefined &&
        posToWire(predicted.pos.x) === own.x &&
        posToWire(predicted.pos.y) === own.y &&
        velToWire(predicted.vel.x, dt) === own.vx &&
        velToWire(predicted.vel.y, dt) === own.vy
      ) {
        return { pos, vel: predicted.vel };
      }
      return { pos, vel: { x: velFromWire(own.vx, dt), y: velFromWire(own.vy, dt) } };
    },

    step: (state, cmd) => movePlayer(rules, map, dt, state.pos, state.vel, cmd),

    error: (a, b) => Math.hypot(a.pos.x - b.pos.x, a.pos.y - b.pos.y),

    /** Death and respawn are the server's to decide. */
    followsServer: (own) => (own.flags & FLAGS.ALIVE) === 0,
  };
}
