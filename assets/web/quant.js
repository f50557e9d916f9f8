// Quantization (crates/protocol/src/quant.rs): how continuous values become the small integers
// the wire carries, in f32 arithmetic like the Rust side. Reusable helpers for 2D games: a game
// whose records carry positions, velocities or angles uses these so the client quantizes its own
// commands exactly as the server does.

/** Quantization constants. */
export const QUANT = Object.freeze({
  /** Position units per meter: positions travel as multiples of 1/256 m. */
  POS_UNITS_PER_M: 256,
  /** Bits of a full position coordinate. */
  POS_BITS: 20,
  /** Largest position coordinate in units. */
  POS_MAX: (1 << 20) - 1,
  /** Largest velocity magnitude per axis, in position units per tick. */
  VEL_MAX: 1 << 16,
  /** Bits of an aim angle in records. */
  AIM_BITS: 10,
  /** Aim steps per turn in records. */
  AIM_STEPS: 1 << 10,
});

const f32 = Math.fround;
const TAU32 = f32(2 * Math.PI);

/** f32::round: halves round away from zero (Math.round rounds -2.5 to -2). */
export function roundHalfAway(value) {
  return value < 0 ? -Math.round(-value) : Math.round(value);
}

function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}

/** Meters to position units (1/256 m), rounded and clamped to 0..=POS_MAX; non-finite is 0. */
export function posToWire(meters) {
  if (!Number.isFinite(meters)) return 0;
  return clamp(roundHalfAway(f32(f32(meters) * QUANT.POS_UNITS_PER_M)), 0, QUANT.POS_MAX) + 0;
}

/** Position units to meters. */
export function posFromWire(units) {
  return f32(units / QUANT.POS_UNITS_PER_M);
}

/** m/s to position units per tick of `dt` seconds, rounded and clamped to ±VEL_MAX. */
export function velToWire(metersPerSecond, dt) {
  const units = f32(f32(f32(metersPerSecond) * f32(dt)) * QUANT.POS_UNITS_PER_M);
  if (!Number.isFinite(units)) return 0;
  return clamp(roundHalfAway(units), -QUANT.VEL_MAX, QUANT.VEL_MAX) + 0;
}

/** Position units per tick back to m/s. */
export function velFromWire(unitsPerTick, dt) {
  return f32(f32(f32(unitsPerTick) / QUANT.POS_UNITS_PER_M) / f32(dt));
}

function angleToSteps(radians, steps) {
  if (!Number.isFinite(radians)) return 0;
  let turns = f32(f32(radians) / TAU32) % 1;
  if (turns < 0) turns = f32(turns + 1);
  return (roundHalfAway(f32(turns * steps)) % steps) + 0;
}

/** Radians to a record's aim step (0..AIM_STEPS). */
export function aimToWire(radians) {
  return angleToSteps(radians, QUANT.AIM_STEPS);
}

/** A record's aim step to radians in [0, 2π). */
export function aimFromWire(steps) {
  return f32(f32(f32((steps >>> 0) % QUANT.AIM_STEPS) / QUANT.AIM_STEPS) * TAU32);
}

/** Radians to an input aim (0..=65535 for a full turn). */
export function inputAimToWire(radians) {
  return angleToSteps(radians, 65536);
}

/** An input aim to radians in [0, 2π). */
export function inputAimFromWire(aim) {
  return f32(f32(aim / 65536) * TAU32);
}

/** A movement axis in -1..=1 to -127..=127; non-finite is 0. */
export function axisToWire(value) {
  if (!Number.isFinite(value)) return 0;
  return roundHalfAway(f32(clamp(f32(value), -1, 1) * 127)) + 0;
}

/** -127..=127 to -1..=1 (-128 is treated as -127). */
export function axisFromWire(value) {
  return f32(Math.max(value, -127) / 127);
}
