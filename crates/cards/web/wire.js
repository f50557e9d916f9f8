// The card game's wire types (crates/cards/src/wire.rs): its schema for the browser core (the
// setup sent in the Welcome, the play command, the stats row, the events) and its record,
// CardRecord, with its delta coding. docs/protocol/cards.md gives every bit.
//
// Records are plain objects {id, kind, slot, rank, suit, count}: the table (kind 0: slot is the
// phase, count the tick it ends), a pile (kind 1: slot is its index, rank and suit its top card,
// count its cards) or a card in the player's own hand (kind 2: slot is its position).

import { LIMITS, checkLen, invalid, noControl, rangeError, utf8Length } from "./tickwire.js";

/** The game's name in the Hello (Schema::NAME). */
export const NAME = "cards";
/** The version of the card game's wire types (Schema::VERSION). */
export const VERSION = 1;

/** Record kinds (wire.rs `kind`). */
export const KIND = Object.freeze({ TABLE: 0, PILE: 1, HAND: 2, MAX: 2 });
/** The table's phases, its record's `slot` (wire.rs `phase`). */
export const PHASE = Object.freeze({ WAITING: 0, COUNTDOWN: 1, PLAYING: 2, BREAK: 3 });
/** Why a play was refused, CardsEvent::Refused's `reason` (wire.rs `refusal`). */
export const REFUSAL = Object.freeze({ NOT_IN_HAND: 1, NOT_PLAYING: 2, NO_SUCH_PILE: 3, NOT_ADJACENT: 4 });
/** Ranks run 1 (ace) to 13 (king); a pile's top of rank 0 means the pile is empty. */
export const RANK_MAX = 13;
/** Suits run 0 to 3. */
export const SUIT_MAX = 3;
/** Most slots a record's `slot` names (piles, hand positions, phases). */
export const SLOT_MAX = 7;

const KIND_BITS = 2;
const SLOT_BITS = 3;
const RANK_BITS = 4;
const SUIT_BITS = 2;
const MASK_BITS = 3;
const MASK_SLOT = 1;
const MASK_CARD = 2;
const MASK_COUNT = 4;
/** Exp-Golomb orders: a full record's count, and a change of count. */
const K_COUNT = 3;
const K_COUNT_CHANGE = 1;

/** CardRecord's delta coding (the Record trait). Nothing is predicted: a record stays put. */
export const record = Object.freeze({
  id: (card) => card.id,

  /** A record id keeps its kind; if it did not, the record is sent afresh. */
  continues: (cur, base) => cur.kind === base.kind,

  writeFull(card, out) {
    out.write(card.kind, KIND_BITS);
    out.write(card.slot, SLOT_BITS);
    out.write(card.rank, RANK_BITS);
    out.write(card.suit, SUIT_BITS);
    out.writeGolomb(card.count, K_COUNT);
  },

  /** As the Rust read_full, no range check here: the container checks isValid. */
  readFull(id, input) {
    return {
      id,
      kind: input.read(KIND_BITS),
      slot: input.read(SLOT_BITS),
      rank: input.read(RANK_BITS),
      suit: input.read(SUIT_BITS),
      count: input.readGolomb(K_COUNT),
    };
  },

  changes(cur, base) {
    let mask = 0;
    if (cur.slot !== base.slot) mask |= MASK_SLOT;
    if (cur.rank !== base.rank || cur.suit !== base.suit) mask |= MASK_CARD;
    if (cur.count !== base.count) mask |= MASK_COUNT;
    return mask;
  },

  writeChanges(cur, base, elapsed, mask, out) {
    out.write(mask, MASK_BITS);
    if (mask & MASK_SLOT) out.write(cur.slot, SLOT_BITS);
    if (mask & MASK_CARD) {
      out.write(cur.rank, RANK_BITS);
      out.write(cur.suit, SUIT_BITS);
    }
    // The difference modulo 2^32, as an i32: a pile grows or shrinks by one.
    if (mask & MASK_COUNT) out.writeSignedGolomb((cur.count - base.count) | 0, K_COUNT_CHANGE);
  },

  readChanges(base, elapsed, input) {
    const next = { ...base };
    const mask = input.read(MASK_BITS);
    if (mask & MASK_SLOT) next.slot = input.read(SLOT_BITS);
    if (mask & MASK_CARD) {
      next.rank = input.read(RANK_BITS);
      next.suit = input.read(SUIT_BITS);
    }
    if (mask & MASK_COUNT) next.count = (base.count + input.readSignedGolomb(K_COUNT_CHANGE)) >>> 0;
    if (!record.isValid(next)) throw rangeError(base.id);
    return next;
  },

  isValid(card) {
    return (
      card.id !== 0 &&
      card.kind <= KIND.MAX &&
      card.slot <= SLOT_MAX &&
      card.rank <= RANK_MAX &&
      card.suit <= SUIT_MAX &&
      (card.kind !== KIND.HAND || card.rank >= 1)
    );
  },

  /** Three words: id, kind | slot << 8 | rank << 16 | suit << 24, count. */
  checksum(card, sum) {
    sum.word(card.id);
    sum.word(card.kind | (card.slot << 8) | (card.rank << 16) | (card.suit << 24));
    sum.word(card.count);
  },
});

/** The card game's schema (the Rust `Schema for Cards`), for the core's codec and replica. */
export const schema = Object.freeze({
  name: NAME,
  version: VERSION,

  /** CardsSetup: the piles, the hand size, the seats, the ticks before a stalemate flip. */
  setup: {
    type: ["struct", [["piles", "u8"], ["hand_size", "u8"], ["max_players", "u8"], ["stall_ticks", "u16"]]],
    validate(setup) {
      const pilesOk = setup.piles >= 1 && setup.piles <= 4;
      const handOk = setup.hand_size >= 1 && setup.hand_size <= 8;
      if (!pilesOk || !handOk) throw invalid("setup", "piles must be 1-4 and hand_size 1-8");
    },
  },

  /** CardsInput: the id of a hand card record to play (0: no play) and the pile to play it on. */
  input: {
    type: ["struct", [["card", "u32"], ["pile", "u8"]]],
    idle: () => ({ card: 0, pile: 0 }),
  },

  /** CardsStats: one player's public counts (never the cards). */
  stats: {
    type: ["struct", [
      ["player", "u32"],
      ["name", "string"],
      ["hand", "u8"],
      ["draw", "u8"],
      ["in_round", "bool"],
      ["played", "u32"],
      ["rounds_won", "u32"],
    ]],
    player: (row) => row.player,
    validate(row) {
      checkLen("scores.name", utf8Length(row.name), LIMITS.NAME_MAX);
      noControl("scores.name", row.name);
    },
  },

  /** CardsEvent: Refused is heard by its player alone, everything else by everyone. */
  event: {
    type: ["enum", [
      ["RoundStarted", ["struct", [["round", "u32"]]]],
      ["Played", ["struct", [["player", "u32"], ["pile", "u8"], ["rank", "u8"], ["suit", "u8"]]]],
      ["Refused", ["struct", [["card", "u32"], ["pile", "u8"], ["reason", "u8"]]]],
      ["Flipped", "unit"],
      ["RoundEnded", ["struct", [["winner", "u32"]]]],
    ]],
  },

  record,
});
