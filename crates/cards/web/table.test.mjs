// The card table without a DOM (table.js): the adjacency rule against the Rust `fits`
// (tests/twins/constants.json, written by crates/cards/tests/web_twins.rs), reading a view, and
// a player's plays from choice to outcome. Run: node --test crates/cards/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  OUTCOME_TIMEOUT_MS,
  PHASE_NAMES,
  Plays,
  REFUSAL_TEXTS,
  cardLabel,
  fits,
  fitsPile,
  readView,
  refusalText,
} from "./table.js";
import { KIND, PHASE, RANK_MAX, REFUSAL } from "./wire.js";

const twins = JSON.parse(readFileSync(new URL("../tests/twins/constants.json", import.meta.url), "utf8"));
const setup = { piles: 2, hand_size: 5, max_players: 4, stall_ticks: 90 };

const tableRecord = (phase, count = 0) => ({ id: 1, kind: KIND.TABLE, slot: phase, rank: 0, suit: 0, count });
const pile = (slot, rank, suit, count) => ({ id: 2 + slot, kind: KIND.PILE, slot, rank, suit, count });
const hand = (id, slot, rank, suit) => ({ id, kind: KIND.HAND, slot, rank, suit, count: 0 });

test("a card fits the tops the Rust rule says, and any card fits an empty pile", () => {
  assert.equal(twins.fits.length, RANK_MAX);
  for (const [card, tops] of twins.fits) {
    const mine = [];
    for (let top = 1; top <= RANK_MAX; top++) if (fits(card, top)) mine.push(top);
    assert.deepEqual(mine, tops, `rank ${card}`);
    assert.ok(fitsPile(card, { rank: 0 }), "an empty pile takes anything");
  }
});

test("every phase and refusal has words", () => {
  for (const code of Object.values(PHASE)) assert.ok(PHASE_NAMES[code], `phase ${code}`);
  for (const code of Object.values(REFUSAL)) assert.ok(REFUSAL_TEXTS[code], `refusal ${code}`);
  assert.match(refusalText(REFUSAL.NOT_ADJACENT), /one above or below/);
  assert.match(refusalText(99), /99/);
  assert.equal(cardLabel(1, 0), "A♠");
  assert.equal(cardLabel(10, 1), "10♥");
  assert.equal(cardLabel(13, 3), "K♣");
});

test("a view reads into the phase, the piles by index and the hand by position", () => {
  const view = [tableRecord(PHASE.COUNTDOWN, 420), pile(0, 7, 2, 4), pile(1, 0, 0, 0), hand(40, 3, 8, 1), hand(41, 0, 1, 3)];
  const table = readView(view, setup);
  assert.equal(table.phase, PHASE.COUNTDOWN);
  assert.equal(table.endsTick, 420);
  assert.deepEqual(table.piles, [
    { slot: 0, rank: 7, suit: 2, count: 4 },
    { slot: 1, rank: 0, suit: 0, count: 0 },
  ]);
  assert.deepEqual(table.hand.map((card) => card?.id ?? null), [41, null, null, 40, null]);
  assert.deepEqual(table.records, { table: 1, piles: 2, hand: 2 });
  // A spectator's view: no hand records, every position empty.
  const watched = readView(view.filter((card) => card.kind !== KIND.HAND), setup);
  assert.deepEqual(watched.hand, [null, null, null, null, null]);
  assert.equal(watched.records.hand, 0);
});

test("a play is sampled once, on the next tick, then waits for its outcome", () => {
  const plays = new Plays();
  const cards = [hand(40, 0, 8, 1), hand(41, 1, 1, 3), null, null, null];
  assert.deepEqual(plays.sample(0), { card: 0, pile: 0 }, "idle without a choice");
  assert.equal(plays.choose(0, cards), null, "a pile without a card picked does nothing");
  plays.select(cards[0]);
  assert.equal(plays.selected, 40);
  plays.select(cards[0]);
  assert.equal(plays.selected, null, "picking it again puts it back");
  plays.select(cards[0]);
  assert.deepEqual(plays.choose(1, cards), { card: 40, pile: 1, rank: 8, suit: 1 });
  assert.equal(plays.selected, null);
  plays.select(cards[0]);
  assert.equal(plays.selected, null, "a card on its way cannot be picked again");
  assert.deepEqual(plays.sample(10), { card: 40, pile: 1 });
  assert.deepEqual(plays.sample(43), { card: 0, pile: 0 }, "idle again on the tick after");
  assert.ok(!plays.available(cards[0]));
  // The card left the hand: it landed.
  plays.handleHand([null, cards[1], null, null, null], 80);
  plays.handleLanded();
  assert.deepEqual(plays.counts, { chosen: 1, sent: 1, landed: 1, refused: 0 });
});

test("a refused play frees its card and says which card it was", () => {
  const plays = new Plays();
  const cards = [hand(40, 0, 8, 1), hand(41, 1, 1, 3)];
  plays.select(cards[1]);
  plays.choose(0, cards);
  plays.select(cards[0]);
  plays.choose(1, cards);
  assert.deepEqual(plays.sample(0), { card: 41, pile: 0 });
  assert.deepEqual(plays.sample(33), { card: 40, pile: 1 }, "two quick plays go on two ticks");
  const refused = plays.handleRefused({ card: 41, pile: 0, reason: REFUSAL.NOT_ADJACENT });
  assert.equal(cardLabel(refused.rank, refused.suit), "A♣");
  assert.ok(plays.available(cards[1]));
  assert.ok(!plays.available(cards[0]));
  // No outcome for too long (it cannot happen while the server runs): offered again.
  plays.handleHand(cards, 33 + OUTCOME_TIMEOUT_MS + 1);
  assert.ok(plays.available(cards[0]));
  assert.equal(plays.counts.refused, 1);
});

test("a picked or queued card that leaves the hand is forgotten", () => {
  const plays = new Plays();
  const cards = [hand(40, 0, 8, 1), hand(41, 1, 1, 3)];
  plays.select(cards[0]);
  plays.choose(0, cards);
  plays.select(cards[1]);
  plays.handleHand([null, null], 0); // a new round dealt other cards
  assert.equal(plays.selected, null);
  assert.deepEqual(plays.sample(0), { card: 0, pile: 0 });
});

test("game.js imports without a DOM and exports what the page needs", async () => {
  const game = await import("./game.js");
  assert.equal(game.schema.name, "cards");
  assert.equal(typeof game.mount, "function");
  assert.equal(game.prediction, undefined, "players have no entity: nothing to predict");
  const row = { player: 1, name: "ann", hand: 3, draw: 14, in_round: true, played: 6, rounds_won: 1 };
  assert.deepEqual(
    game.page.scoreboard.columns.map((column) => column.value(row)),
    ["ann", 17, 6, 1],
  );
});
