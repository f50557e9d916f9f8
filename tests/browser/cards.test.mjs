// Plays the card game in the browser (the engine's page from assets/web with the card game's
// module from crates/cards/web, served by the release binary) in headless Chromium.
//
// Starts `tickwire serve --game cards` on a free port with short phases (a [cards] table in a
// temporary config file), joins one browser player to a room, adds two `tickwire bot --game
// cards` bots to the same room, and plays cards by clicking them and their piles, or by keys,
// until one lands and one is refused with a readable reason; saves a screenshot
// (target/browser/cards.png). Then a spectator link on the same room sees the piles change, the
// players' counts and the round's winner, and no hand (target/browser/cards-spectate.png).
// Assertions read window.tickwire.state() (the card module's part under `module`), never pixels.
//
// Run: bash tests/browser/run.sh, or `node --test tests/browser/` (see harness.mjs).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import {
  cleanUp,
  launchBrowser,
  newPage,
  run,
  screenshots,
  startServer,
  state,
  waitForState,
  writeConfig,
} from "./harness.mjs";

const ROOM = "cards-web";
const PLAYER_NAME = "card-player";
const BOTS = ["bot-ann", "bot-bob"];
/** Short phases, so a test sees a deal within seconds and flips come quickly. */
const CONFIG = `
[cards]
piles = 2
hand_size = 5
countdown_s = 2.0
break_s = 1.0
stall_s = 1.0
`;

let server;
let browser;
/** The browser player's page, open for the whole file (the spectator watches its room). */
let player;

before(async () => {
  server = await startServer(["--game", "cards", "--config", writeConfig(CONFIG)]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  cleanUp();
});

/** The pile slot each playable hand card fits, from the module's state: [{card, pile}]. */
function playable(s) {
  return s.module.hand
    .filter((card) => !card.inFlight && card.fits.length > 0)
    .map((card) => ({ card, pile: card.fits[0] }));
}

/**
 * Plays `card` on `pile` with the mouse (card, then pile) or the keys (1-8, then Q W E R), and
 * waits for the outcome: "landed", "refused", or "missed" when the card was gone before the
 * click (a new deal).
 */
async function play(page, card, pile, how) {
  const before = (await state(page)).module.plays;
  await page.keyboard.press("Escape"); // nothing picked
  if (how === "keys") {
    await page.keyboard.press(String(card.slot + 1));
    await page.keyboard.press("QWER"[pile]);
  } else {
    try {
      await page.click(`.cards-card[data-card-id="${card.id}"]`, { timeout: 1_000 });
    } catch {
      return "missed";
    }
    await page.click(`.cards-pile[data-pile="${pile}"]`);
  }
  // The keys and clicks are handled by now: a play was chosen, or the card was gone.
  if ((await state(page)).module.plays.chosen === before.chosen) return "missed";
  const after = await waitForState(
    page,
    (s, before) => s.module.plays.landed > before.landed || s.module.plays.refused > before.refused,
    before,
    5_000,
  );
  return after.module.plays.landed > before.landed ? "landed" : "refused";
}

/** Plays the first fitting card, again and again, until `done()`. */
async function keepPlaying(page, done) {
  while (!done()) {
    const s = await state(page);
    const [option] = s.module.phase === "playing" ? playable(s) : [];
    if (option === undefined) await page.waitForTimeout(100);
    else await play(page, option.card, option.pile, "mouse");
  }
}

test("the server serves the core's files and the card game's module", async () => {
  for (const [file, type] of [
    ["/", "text/html"],
    ["/app.js", "text/javascript"],
    ["/tickwire.js", "text/javascript"],
    ["/game.js", "text/javascript"],
    ["/game.css", "text/css"],
    ["/wire.js", "text/javascript"],
    ["/table.js", "text/javascript"],
  ]) {
    const response = await fetch(`${server.http}${file}`);
    assert.equal(response.status, 200, file);
    assert.match(response.headers.get("content-type") ?? "", new RegExp(type), file);
  }
  assert.match(await (await fetch(`${server.http}/wire.js`)).text(), /export const NAME = "cards"/);
});

test("a browser player and two bots play a round: a card lands, a bad play is refused", { timeout: 120_000 }, async (t) => {
  player = await newPage(browser);
  await player.goto(`${server.http}/?room=${ROOM}`);
  await player.fill("#join-name", PLAYER_NAME);
  await player.click("#join-button");
  let s = await waitForState(player, (s) => s && s.connected && s.module?.phase != null);
  assert.equal(s.game, "cards");
  assert.equal(s.room, ROOM);
  assert.equal(s.spectator, false);
  assert.equal(s.ownEntity, 0, "card players have no entity");
  assert.equal(s.module.phase, "waiting", "alone at the table");
  assert.equal(s.module.piles.length, 2);

  for (const [index, name] of BOTS.entries()) {
    const seed = String(index + 1);
    run(["bot", "--game", "cards", "--url", server.ws, "--room", ROOM, "--name", name, "--duration", "90", "--seed", seed]);
  }
  // A second seat starts the countdown to the deal (2 s here), shown counting down.
  s = await waitForState(player, (s) => s.module.phase === "countdown" && s.module.secondsLeft > 0);
  assert.ok(s.module.secondsLeft <= 2.5, `${s.module.secondsLeft} s left`);
  s = await waitForState(player, (s, bots) => bots.every((name) => s.scores.some((row) => row.name === name)), BOTS);
  assert.equal(s.scores.length, 3, "three seats in one room");

  // The countdown, then the deal: our hand arrives, and the table says we are in the round.
  s = await waitForState(
    player,
    (s) =>
      s.module.phase === "playing" &&
      s.module.hand.length > 0 &&
      s.scores.find((row) => row.player === s.player)?.in_round,
    undefined,
    30_000,
  );
  assert.ok(s.module.rounds.started >= 1);
  assert.ok(s.module.hand.length <= 5);
  assert.equal(s.module.records.hand, s.module.hand.length, "the view holds our hand and nobody else's");
  assert.ok(s.module.handShown);

  // Play fitting cards (clicks and keys in turn) until one lands; the bots race us for the
  // piles, so some are refused: that is the game, not a failure.
  const deadline = Date.now() + 60_000;
  const tried = [];
  for (let attempt = 0; s.module.plays.landed === 0; attempt++) {
    assert.ok(Date.now() < deadline, `no play landed: ${JSON.stringify(tried)}\n${JSON.stringify(s.module)}`);
    s = await state(player);
    const options = s.module.phase === "playing" ? playable(s) : [];
    if (options.length === 0) {
      await player.waitForTimeout(100); // wait for a pile to change, a flip or the next deal
      continue;
    }
    const { card, pile } = options[0];
    const how = attempt % 2 === 0 ? "mouse" : "keys";
    const result = await play(player, card, pile, how);
    tried.push({ card: card.label, pile, how, result });
    s = await state(player);
  }
  s = await waitForState(player, (s) => s.scores.find((row) => row.player === s.player)?.played >= 1);
  const ownPlay = s.module.feed.find((entry) => entry.kind.includes("own") && entry.text.startsWith("You: "));
  assert.ok(ownPlay, JSON.stringify(s.module.feed));

  // A play on a pile the card does not fit is sent anyway (the server decides) and refused,
  // with the reason in words. A pile can change under us, so try a few times.
  let refusal = null;
  for (let attempt = 0; refusal === null && attempt < 20; attempt++) {
    s = await state(player);
    const pileCount = s.module.piles.length;
    const misfit =
      s.module.phase === "playing" ? s.module.hand.find((card) => !card.inFlight && card.fits.length < pileCount) : undefined;
    if (misfit === undefined) {
      await player.waitForTimeout(200);
      continue;
    }
    const pile = s.module.piles.findIndex((_, index) => !misfit.fits.includes(index));
    const how = attempt % 2 === 0 ? "keys" : "mouse";
    const result = await play(player, misfit, pile, how);
    tried.push({ card: misfit.label, pile, how, result });
    if (result === "refused") refusal = (await state(player)).module.refusals.at(-1);
  }
  t.diagnostic(`plays: ${JSON.stringify(tried)}`);
  assert.ok(refusal !== null, "a bad play was refused");
  assert.equal(refusal.reason, 4, JSON.stringify(refusal));
  assert.match(refusal.text, /one above or below/);

  s = await state(player);
  assert.ok(s.module.feed.some((entry) => entry.kind === "refused" && /^Refused .+ on pile \d: /.test(entry.text)));
  // Every play sent had exactly one outcome.
  s = await waitForState(player, (s) => s.module.plays.sent === s.module.plays.landed + s.module.plays.refused);
  assert.equal(s.snapshotErrors, 0, "every snapshot applied");
  assert.equal(s.corrections, 0, "nothing predicted");
  mkdirSync(screenshots, { recursive: true });
  await player.screenshot({ path: path.join(screenshots, "cards.png") });
  assert.deepEqual(player.errors, [], "no errors in the page");
});

test("a spectator sees the piles change, the counts, the round's result, and no hand", { timeout: 120_000 }, async () => {
  const page = await newPage(browser);
  await page.goto(`${server.http}/?spectate=1&room=${ROOM}`);
  let s = await waitForState(page, (s) => s && s.connected && s.spectator && s.module?.phase != null && s.scores.length >= 3);
  assert.equal(s.room, ROOM);
  assert.equal(s.ownEntity, 0);
  const first = JSON.stringify(s.module.piles);
  s = await waitForState(page, (s, first) => JSON.stringify(s.module.piles) !== first, first, 30_000);
  assert.equal(s.module.piles.length, 2);
  assert.ok(s.module.piles.every((pile) => pile.count >= 0));
  // No hand: none on the wire, none drawn.
  assert.deepEqual(s.module.hand, []);
  assert.equal(s.module.records.hand, 0);
  assert.equal(s.module.handShown, false);
  assert.equal(s.module.handButtons, 0);
  assert.equal(await page.locator(".cards-hand").isVisible(), false);
  // The public counts of every seated player.
  for (const name of [PLAYER_NAME, ...BOTS]) assert.ok(s.scores.some((row) => row.name === name), name);
  assert.equal(await page.locator(".cards-seat").count(), s.scores.length);
  // The round plays out to its result. The browser player plays on meanwhile: a seated player
  // holding a card that fits keeps the table from flipping, so the bots alone could stall.
  let roundOver = false;
  const playingOn = keepPlaying(player, () => roundOver);
  try {
    s = await waitForState(page, (s) => s.module.rounds.ended >= 1, undefined, 60_000);
  } finally {
    roundOver = true;
    await playingOn;
  }
  const result = s.module.feed.find((entry) => entry.kind.startsWith("round") && / won the round$/.test(entry.text));
  assert.ok(result, JSON.stringify(s.module.feed));
  const winner = result.text.replace(/ won the round$/, "");
  await waitForState(page, (s, winner) => s.scores.find((row) => row.name === winner)?.rounds_won >= 1, winner);
  // Keys do nothing for a spectator.
  await page.keyboard.press("1");
  await page.keyboard.press("Q");
  assert.equal((await state(page)).module.plays.chosen, 0);
  await page.screenshot({ path: path.join(screenshots, "cards-spectate.png") });
  assert.deepEqual(page.errors, []);
  await page.close();
  assert.deepEqual(player.errors, [], "no errors in the player's page");
  await player.close();
});
