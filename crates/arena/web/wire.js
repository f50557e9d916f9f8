// The arena's wire types (crates/arena/src/wire.rs): its schema for the browser core (the setup
// sent in the Welcome, the input command, the score row, the events) and its entity record,
// EntityState, with its delta coding. docs/PROTOCOL.md's arena appendix gives every bit.
//
// Records are plain objects {id, kind, x, y, vx, vy, aim, health, flags} (positions in 1/256 m,
// velocities in 1/256 m per tick, aim in 1/1024 turns).

import {
  LIMITS,
  QUANT,
  checkLen,
  invalid,
  noControl,
  predict,
  rangeError,
  utf8Length,
} from "./tickwire.js";

/** The game's name in the Hello (Schema::NAME). */
export const NAME = "arena";
/** The version of the arena's wire types (Schema::VERSION). */
export const VERSION = 1;
/** Most walls a map sent in the Welcome may have. */
export const WALLS_MAX = 1024;

/** Entity kind codes. */
export const KIND = Object.freeze({ PLAYER: 0, PROJECTILE: 1, NPC: 2, MAX: 2 });
/** Entity flag bits. */
export const FLAGS = Object.freeze({ ALIVE: 1, ALL: 1 });
/** Input button bits: FIRE fires the projectile weapon, HITSCAN the hitscan weapon. */
export const BUTTONS = Object.freeze({ FIRE: 1, HITSCAN: 2 });

const KIND_BITS = 2;
const HEALTH_BITS = 8;
const FLAG_BITS = 2;
const MASK_BITS = 5;
const MASK_POS = 1;
const MASK_VEL = 2;
const MASK_AIM = 4;
const MASK_HEALTH = 8;
const MASK_FLAGS = 16;
/** Exp-Golomb orders per field. */
const K_POS = 0;
const K_VEL = 1;
const K_AIM = 2;
const K_FULL_VEL = 4;

const velocityInRange = (v) => v >= -QUANT.VEL_MAX && v <= QUANT.VEL_MAX;
const positionInRange = (p) => p >= 0 && p <= QUANT.POS_MAX;

/** Wraps an aim difference into -512..=511 so turning across 0 costs a small code. */
function wrapAim(delta) {
  const steps = QUANT.AIM_STEPS;
  return ((((delta + steps / 2) % steps) + steps) % steps) - steps / 2;
}

/** EntityState's delta coding (the Record trait). */
export const record = Object.freeze({
  id: (state) => state.id,

  /** Ids are never reused for another kind; if one were, it is sent afresh. */
  continues: (cur, base) => cur.kind === base.kind,

  writeFull(state, out) {
    out.write(state.kind, KIND_BITS);
    out.write(state.x, QUANT.POS_BITS);
    out.write(state.y, QUANT.POS_BITS);
    out.writeSignedGolomb(state.vx, K_FULL_VEL);
    out.writeSignedGolomb(state.vy, K_FULL_VEL);
    out.write(state.aim, QUANT.AIM_BITS);
    out.write(state.health, HEALTH_BITS);
    out.write(state.flags, FLAG_BITS);
  },

  readFull(id, input) {
    const state = {
      id,
      kind: input.read(KIND_BITS),
      x: input.read(QUANT.POS_BITS),
      y: input.read(QUANT.POS_BITS),
      vx: input.readSignedGolomb(K_FULL_VEL),
      vy: input.readSignedGolomb(K_FULL_VEL),
      aim: input.read(QUANT.AIM_BITS),
      health: input.read(HEALTH_BITS),
      flags: input.read(FLAG_BITS),
    };
    if (!record.isValid(state)) throw rangeError(id);
    return state;
  },

  /** The position is predicted from the average of the baseline and current velocities. */
  changes(cur, base, elapsed) {
    let mask = 0;
    if (predict(base.x, base.vx, cur.vx, elapsed) !== cur.x || predict(base.y, base.vy, cur.vy, elapsed) !== cur.y) {
      mask |= MASK_POS;
    }
    if (base.vx !== cur.vx || base.vy !== cur.vy) mask |= MASK_VEL;
    if (base.aim !== cur.aim) mask |= MASK_AIM;
    if (base.health !== cur.health) mask |= MASK_HEALTH;
    if (base.flags !== cur.flags) mask |= MASK_FLAGS;
    return mask;
  },

  writeChanges(cur, base, elapsed, mask, out) {
    out.write(mask, MASK_BITS);
    if (mask & MASK_VEL) {
      out.writeSignedGolomb(cur.vx - base.vx, K_VEL);
      out.writeSignedGolomb(cur.vy - base.vy, K_VEL);
    }
    if (mask & MASK_POS) {
      out.writeSignedGolomb(cur.x - predict(base.x, base.vx, cur.vx, elapsed), K_POS);
      out.writeSignedGolomb(cur.y - predict(base.y, base.vy, cur.vy, elapsed), K_POS);
    }
    if (mask & MASK_AIM) out.writeSignedGolomb(wrapAim(cur.aim - base.aim), K_AIM);
    if (mask & MASK_HEALTH) out.write(cur.health, HEALTH_BITS);
    if (mask & MASK_FLAGS) out.write(cur.flags, FLAG_BITS);
  },

  readChanges(base, elapsed, input) {
    const cur = { ...base };
    const mask = input.read(MASK_BITS);
    if (mask & MASK_VEL) {
      cur.vx = base.vx + input.readSignedGolomb(K_VEL);
      cur.vy = base.vy + input.readSignedGolomb(K_VEL);
      if (!velocityInRange(cur.vx) || !velocityInRange(cur.vy)) throw rangeError(base.id);
    }
    let x = predict(base.x, base.vx, cur.vx, elapsed);
    let y = predict(base.y, base.vy, cur.vy, elapsed);
    if (mask & MASK_POS) {
      x += input.readSignedGolomb(K_POS);
      y += input.readSignedGolomb(K_POS);
    }
    if (!positionInRange(x) || !positionInRange(y)) throw rangeError(base.id);
    cur.x = x;
    cur.y = y;
    if (mask & MASK_AIM) {
      const delta = input.readSignedGolomb(K_AIM);
      cur.aim = (((base.aim + delta) % QUANT.AIM_STEPS) + QUANT.AIM_STEPS) % QUANT.AIM_STEPS;
    }
    if (mask & MASK_HEALTH) cur.health = input.read(HEALTH_BITS);
    if (mask & MASK_FLAGS) {
      cur.flags = input.read(FLAG_BITS);
      if (cur.flags & ~FLAGS.ALL) throw rangeError(base.id);
    }
    return cur;
  },

  /** Moves an unlisted entity along its steady velocity. */
  advance(state, elapsed) {
    if (state.vx === 0 && state.vy === 0) return state;
    const x = predict(state.x, state.vx, state.vx, elapsed);
    const y = predict(state.y, state.vy, state.vy, elapsed);
    if (!positionInRange(x) || !positionInRange(y)) throw rangeError(state.id);
    return { ...state, x, y };
  },

  isValid(state) {
    return (
      state.id !== 0 &&
      state.kind <= KIND.MAX &&
      positionInRange(state.x) &&
      positionInRange(state.y) &&
      velocityInRange(state.vx) &&
      velocityInRange(state.vy) &&
      state.aim < QUANT.AIM_STEPS &&
      (state.flags & ~FLAGS.ALL) === 0
    );
  },

  /** Six words: id, x, y, vx, vy (two's complement), aim | health << 16 | kind << 24 | flags << 28. */
  checksum(state, sum) {
    sum.word(state.id);
    sum.word(state.x);
    sum.word(state.y);
    sum.word(state.vx);
    sum.word(state.vy);
    sum.word(state.aim | (state.health << 16) | (state.kind << 24) | (state.flags << 28));
  },
});

const MAP_INFO = ["struct", [["name", "string"], ["width", "f32"], ["height", "f32"], ["walls", ["vec", ["array", 4, "f32"]]]]];
const MOVE_RULES = ["struct", [["player_radius", "f32"], ["max_speed", "f32"], ["accel", "f32"], ["friction", "f32"]]];

/** The arena's schema (the Rust `Schema for Arena`), for the core's codec and replica. */
export const schema = Object.freeze({
  name: NAME,
  version: VERSION,

  /** ArenaSetup: the map to draw and predict against, and the movement rules. */
  setup: {
    type: ["struct", [["map", MAP_INFO], ["rules", MOVE_RULES]]],
    validate({ map, rules }) {
      checkLen("map.name", utf8Length(map.name), LIMITS.ROOM_NAME_MAX);
      checkLen("map.walls", map.walls.length, WALLS_MAX);
      const sizeOk = Number.isFinite(map.width) && Number.isFinite(map.height) && map.width > 0 && map.height > 0;
      const wallsOk = map.walls.every(
        (wall) => Array.from(wall).every(Number.isFinite) && wall[0] <= wall[2] && wall[1] <= wall[3],
      );
      if (!sizeOk || !wallsOk) throw invalid("map", "non-finite or inverted geometry");
      const values = [rules.player_radius, rules.max_speed, rules.accel, rules.friction];
      if (!values.every((value) => Number.isFinite(value) && value >= 0) || !(rules.player_radius > 0)) {
        throw invalid("rules", "non-finite, negative or zero radius");
      }
    },
  },

  /** InputCmd: movement axes (-127..=127), aim (0..=65535 a full turn), buttons, view age. */
  input: {
    type: ["struct", [["move_x", "i8"], ["move_y", "i8"], ["aim", "u16"], ["buttons", "u8"], ["view_age", "u8"]]],
    idle: () => ({ move_x: 0, move_y: 0, aim: 0, buttons: 0, view_age: 0 }),
    withViewAge: (cmd, viewAge) => ({ ...cmd, view_age: viewAge }),
  },

  /** ScoreEntry: one player's row. */
  stats: {
    type: ["struct", [["player", "u32"], ["entity", "u32"], ["name", "string"], ["kills", "u32"], ["deaths", "u32"]]],
    player: (row) => row.player,
    validate(row) {
      checkLen("scores.name", utf8Length(row.name), LIMITS.NAME_MAX);
      noControl("scores.name", row.name);
    },
  },

  /** GameEvent: a kill (killer is a player id, 0 for none; victim an entity) or a hitscan shot. */
  event: {
    type: ["enum", [
      ["Killed", ["struct", [["killer", "u32"], ["victim", "u32"]]]],
      ["Shot", ["struct", [["shooter", "u32"], ["from_x", "u32"], ["from_y", "u32"], ["to_x", "u32"], ["to_y", "u32"], ["hit", "u32"]]]],
    ]],
  },

  record,
});
