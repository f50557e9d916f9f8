// The card table as the browser shows it, without a DOM: the view read into phase, piles and
// hand; the rule a client needs to suggest plays (which pile a card fits, as
// crates/cards/src/game.rs `fits`); card and refusal texts; and the player's plays from choice
// to outcome (Plays). game.js draws from these; node tests them.

import { KIND, PHASE, REFUSAL } from "./wire.js";

/** Phase names by code, as the test hook reports them. */
export const PHASE_NAMES = Object.freeze({
  [PHASE.WAITING]: "waiting",
  [PHASE.COUNTDOWN]: "countdown",
  [PHASE.PLAYING]: "playing",
  [PHASE.BREAK]: "break",
});

/** Why a play was refused, in words, by refusal code. */
export const REFUSAL_TEXTS = Object.freeze({
  [REFUSAL.NOT_IN_HAND]: "that card is no longer in your hand",
  [REFUSAL.NOT_PLAYING]: "no round is being played for you (wait for the next deal)",
  [REFUSAL.NO_SUCH_PILE]: "there is no such pile",
  [REFUSAL.NOT_ADJACENT]: "it is not one above or below the pile's top (someone was quicker)",
});

const RANK_LABELS = ["", "A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"];
/** Suits 0 to 3 as drawn; the wire only numbers them. */
const SUIT_SYMBOLS = ["♠", "♥", "♦", "♣"];

/** Whether a card of `cardRank` may go on a top of `topRank`: one apart, king and ace adjacent. */
export function fits(cardRank, topRank) {
  const difference = (cardRank + 13 - topRank) % 13;
  return difference === 1 || difference === 12;
}

/** Whether a card fits a pile record: an empty pile (rank 0) takes any card. */
export function fitsPile(cardRank, pile) {
  return pile.rank === 0 || fits(cardRank, pile.rank);
}

/** "A♠", "10♥", "K♣". */
export function cardLabel(rank, suit) {
  return `${RANK_LABELS[rank] ?? "?"}${SUIT_SYMBOLS[suit] ?? "?"}`;
}

/** Whether a suit is drawn red. */
export function isRed(suit) {
  return suit === 1 || suit === 2;
}

/** The words for a refusal code. */
export function refusalText(reason) {
  return REFUSAL_TEXTS[reason] ?? `refused (reason ${reason})`;
}

/**
 * Reads a view (records sorted by id) into the table's parts: {phase, endsTick, piles, hand,
 * records}. `piles` is indexed by pile slot, `hand` by hand position (empty positions are
 * null), `records` counts what the view holds of each kind.
 */
export function readView(view, setup) {
  const table = { phase: PHASE.WAITING, endsTick: 0, piles: [], hand: [], records: { table: 0, piles: 0, hand: 0 } };
  table.piles = Array.from({ length: setup.piles }, (_, slot) => ({ slot, rank: 0, suit: 0, count: 0 }));
  table.hand = Array.from({ length: setup.hand_size }, () => null);
  for (const card of view) {
    if (card.kind === KIND.TABLE) {
      table.records.table += 1;
      table.phase = card.slot;
      table.endsTick = card.count;
    } else if (card.kind === KIND.PILE) {
      table.records.piles += 1;
      if (card.slot < table.piles.length) {
        table.piles[card.slot] = { slot: card.slot, rank: card.rank, suit: card.suit, count: card.count };
      }
    } else if (card.kind === KIND.HAND) {
      table.records.hand += 1;
      if (card.slot < table.hand.length) table.hand[card.slot] = card;
    }
  }
  return table;
}

/** Milliseconds a play may wait for its outcome before the card is offered again. */
export const OUTCOME_TIMEOUT_MS = 3000;

/**
 * The player's plays, from choice to outcome. Choose a card (`select`), then a pile
 * (`choose`): the play is queued, `sample` hands the core one queued play per tick (the idle
 * command otherwise), and the card stays "in flight" until it leaves the hand (it landed) or a
 * Refused event names it. Counts what happened, for the test hook.
 */
export class Plays {
  constructor() {
    /** The card id picked, waiting for a pile (null: none). */
    this.selected = null;
    /** Plays chosen and not yet sampled: {card, pile, rank, suit}. */
    this.queue = [];
    /** Plays sent, by card id: {card, pile, rank, suit, at}. */
    this.inFlight = new Map();
    this.counts = { chosen: 0, sent: 0, landed: 0, refused: 0 };
  }

  /** Forgets everything of the previous connection (the counts stay). */
  reset() {
    this.selected = null;
    this.queue = [];
    this.inFlight.clear();
  }

  /** Whether a card may be picked: it is in the hand and not already on its way. */
  available(card) {
    return card !== null && !this.inFlight.has(card.id) && !this.queue.some((play) => play.card === card.id);
  }

  /** Picks `card` (a hand record), or unpicks it when it is the one picked. */
  select(card) {
    if (!this.available(card)) return;
    this.selected = this.selected === card.id ? null : card.id;
  }

  /** Plays the picked card on pile `pile` (a slot); returns the play, or null with no card picked. */
  choose(pile, hand) {
    const card = hand.find((held) => held !== null && held.id === this.selected);
    this.selected = null;
    if (card === undefined || !this.available(card)) return null;
    const play = { card: card.id, pile, rank: card.rank, suit: card.suit };
    this.queue.push(play);
    this.counts.chosen += 1;
    return play;
  }

  /** This tick's command: the oldest queued play, else the idle command. */
  sample(now) {
    const play = this.queue.shift();
    if (play === undefined) return { card: 0, pile: 0 };
    this.inFlight.set(play.card, { ...play, at: now });
    this.counts.sent += 1;
    return { card: play.card, pile: play.pile };
  }

  /**
   * A new hand (by position): plays whose card left it are done (a Played event says where it
   * went); a picked card that is gone is unpicked; plays waiting too long are given up.
   */
  handleHand(hand, now) {
    const held = new Set(hand.filter((card) => card !== null).map((card) => card.id));
    for (const [id, play] of this.inFlight) {
      if (!held.has(id) || now - play.at > OUTCOME_TIMEOUT_MS) this.inFlight.delete(id);
    }
    this.queue = this.queue.filter((play) => held.has(play.card));
    if (this.selected !== null && !held.has(this.selected)) this.selected = null;
  }

  /** A Played event of this player. */
  handleLanded() {
    this.counts.landed += 1;
  }

  /** A Refused event: returns the play it names ({card, pile, rank?, suit?}); the card is free again. */
  handleRefused(refused) {
    this.counts.refused += 1;
    const play = this.inFlight.get(refused.card) ?? { card: refused.card, pile: refused.pile };
    this.inFlight.delete(refused.card);
    return play;
  }
}
