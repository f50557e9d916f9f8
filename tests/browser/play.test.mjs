// Plays the browser client (the engine's page from assets/web with the arena's module from
// crates/arena/web, served by the release binary) in headless Chromium.
//
// Starts `tickwire serve` on a free port and one `tickwire bot` in room "web", opens the page,
// joins, moves, checks the bot is drawn, chats, saves a screenshot (target/browser/play.png),
// watches as a spectator, and checks that a dropped connection is resumed as the same player.
// Assertions read window.tickwire.state(), the page's test hook, never pixels: the core's fields
// at the top level, the arena module's (what it drew, where the own player is) under `module`.
//
// Run: bash tests/browser/run.sh (installs Chromium and playwright-core first), or
// `node --test tests/browser/` with TICKWIRE_BIN (default target/release/tickwire) and
// CHROMIUM (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";

import {
  cleanUp,
  launchBrowser,
  newPage as openPage,
  run,
  screenshots,
  startServer,
  state,
  waitForState,
  writeConfig,
} from "./harness.mjs";

const BOT_NAME = "webbot";
const PLAYER_NAME = "web-tester";

let server;
let browser;

/** A TCP proxy whose connections the test can cut, like a network drop (no close frames). */
function startProxy(targetPort) {
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const [from, to] of [[client, upstream], [upstream, client]]) {
      sockets.add(from);
      from.pipe(to);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  return new Promise((resolve) => {
    proxy.listen(0, "127.0.0.1", () => {
      resolve({
        port: proxy.address().port,
        cut() {
          for (const socket of sockets) socket.resetAndDestroy?.() ?? socket.destroy();
        },
        close: () => proxy.close(),
      });
    });
  });
}

function newPage() {
  return openPage(browser);
}

async function join(page, url, name) {
  await page.goto(url);
  await page.fill("#join-name", name);
  await page.click("#join-button");
  return waitForState(page, (s) => s && s.connected && s.ownEntity !== 0 && s.module?.ownPosition != null);
}

/** Holds the keys that steer from `from` toward `to` for `ms`. */
async function steer(page, from, to, ms) {
  const keys = [];
  if (to.x - from.x > 0.5) keys.push("d");
  if (from.x - to.x > 0.5) keys.push("a");
  if (to.y - from.y > 0.5) keys.push("w");
  if (from.y - to.y > 0.5) keys.push("s");
  for (const key of keys) await page.keyboard.down(key);
  await page.waitForTimeout(ms);
  for (const key of keys) await page.keyboard.up(key);
  return keys;
}

before(async () => {
  server = await startServer();
  run(["bot", "--url", server.ws, "--room", "web", "--name", BOT_NAME, "--duration", "20", "--seed", "7"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  cleanUp();
});

test("the server serves the core's files and the arena's module", async () => {
  for (const [file, type] of [
    ["/", "text/html"],
    ["/index.html", "text/html"],
    ["/app.js", "text/javascript"],
    ["/tickwire.js", "text/javascript"],
    ["/protocol.js", "text/javascript"],
    ["/style.css", "text/css"],
    ["/game.js", "text/javascript"],
    ["/game.css", "text/css"],
    ["/wire.js", "text/javascript"],
  ]) {
    const response = await fetch(`${server.http}${file}`);
    assert.equal(response.status, 200, file);
    assert.match(response.headers.get("content-type") ?? "", new RegExp(type), file);
  }
});

test("a player joins, moves, sees the bot and chats", { timeout: 90_000 }, async (t) => {
  const page = await newPage();
  let s = await join(page, `${server.http}/?room=web`, PLAYER_NAME);
  assert.equal(s.game, "arena");
  assert.equal(s.room, "web");
  assert.equal(s.spectator, false);
  const map = s.module.map;

  // Move toward the middle of the arena for about a second.
  const start = s.module.ownPosition;
  const center = { x: map.width / 2, y: map.height / 2 };
  const keys = await steer(page, start, center, 1000);
  assert.ok(keys.length > 0, `no keys to press from ${JSON.stringify(start)}`);
  await page.waitForTimeout(300);
  s = await state(page);
  const moved = Math.hypot(s.module.ownPosition.x - start.x, s.module.ownPosition.y - start.y);
  const where = `from ${JSON.stringify(start)} to ${JSON.stringify(s.module.ownPosition)}`;
  assert.ok(moved > 1, `the player moved only ${moved.toFixed(2)} m, ${where}`);

  // The bot: its entity from the score table, then drawn once in view (keep walking to the
  // middle, from where the whole arena is in view).
  s = await waitForState(page, (s, name) => s.scores.some((row) => row.name === name), BOT_NAME);
  const botEntity = s.scores.find((row) => row.name === BOT_NAME).entity;
  const deadline = Date.now() + 20_000;
  for (let attempt = 0; ; attempt++) {
    s = await state(page);
    const drawn = s.module.entities;
    if (drawn.some((entity) => entity.id === botEntity && entity.kind === "player" && !entity.own)) break;
    assert.ok(Date.now() < deadline, `the bot (entity ${botEntity}) was never drawn: ${JSON.stringify(drawn)}`);
    // Toward the middle; every other try along one axis only, to get around a wall.
    const own = s.module.ownPosition;
    const alongY = { ...center, x: own.x };
    const alongX = { ...center, y: own.y };
    const target = attempt % 2 === 0 ? center : attempt % 4 === 1 ? alongY : alongX;
    await steer(page, own, target, 300);
  }
  const bot = s.module.entities.find((entity) => entity.id === botEntity);
  assert.equal(bot.name, BOT_NAME);
  assert.ok(s.module.entities.some((entity) => entity.own && entity.id === s.ownEntity), "own player drawn");

  // Chat: type, Enter, and the server echoes it back to everyone, us included.
  const line = "hello from the browser";
  await page.keyboard.press("Enter");
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
  s = await waitForState(
    page,
    (s, args) => s.chat.some((chat) => chat.text === args.line && chat.name === args.name),
    { line, name: PLAYER_NAME },
  );

  // Aim at the bot and fire both weapons, so the picture has projectiles and a tracer.
  s = await state(page);
  const canvas = await page.locator("#view").boundingBox();
  const target = s.module.entities.find((entity) => entity.id === botEntity) ?? bot;
  await page.mouse.move(canvas.x + target.screen.x, canvas.y + target.screen.y);
  await page.mouse.down();
  await page.waitForTimeout(300);
  await page.mouse.up();
  await page.keyboard.down("Shift");
  await page.waitForTimeout(120);
  await page.keyboard.up("Shift");
  // The server reports the hitscan shot back as an event; screenshot while its tracer shows.
  s = await waitForState(page, (s) => s.module.shots.own > 0 && s.module.tracers > 0);
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, "play.png") });

  s = await state(page);
  assert.equal(s.snapshotErrors, 0, "every snapshot applied");
  assert.ok(s.pingMs !== null && s.pingMs >= 0, "a ping was answered");
  assert.ok(s.tick > 0);
  const errors = [...s.predictionErrors].sort((a, b) => a - b);
  const median = errors.length ? errors[Math.floor(errors.length / 2)] : 0;
  const worst = errors.at(-1) ?? 0;
  t.diagnostic(
    `prediction: ${errors.length} reconciliations, ${s.corrections} corrections > 5 cm, ` +
      `median error ${median.toFixed(4)} m, max ${worst.toFixed(3)} m`,
  );
  assert.ok(median < 0.05, `median prediction error ${median} m`);

  assert.deepEqual(page.errors, [], "no errors in the page");
  await page.close();
});

test("a spectator link watches the room", { timeout: 60_000 }, async () => {
  const page = await newPage();
  await page.goto(`${server.http}/?spectate=1&room=web`);
  const s = await waitForState(
    page,
    (s) => s && s.connected && s.spectator && s.module.entities.some((entity) => entity.kind === "player"),
  );
  assert.equal(s.room, "web");
  assert.equal(s.ownEntity, 0);
  assert.ok(s.module.entities.every((entity) => !entity.own));
  assert.equal(s.module.ownPosition, null);
  await page.screenshot({ path: path.join(screenshots, "spectate.png") });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a dropped connection resumes as the same player", { timeout: 60_000 }, async () => {
  const port = Number(new URL(server.ws).port);
  const proxy = await startProxy(port);
  try {
    const page = await newPage();
    const wsUrl = `ws://127.0.0.1:${proxy.port}/ws`;
    const before = await join(page, `${server.http}/?room=resume&server=${encodeURIComponent(wsUrl)}`, "resumer");
    assert.equal(before.resumed, false);
    proxy.cut();
    const after = await waitForState(page, (s) => s && s.connected && s.resumed);
    assert.equal(after.ownEntity, before.ownEntity, "same entity");
    assert.equal(after.player, before.player, "same player");
    assert.equal(after.reconnects, 1);
    // And it plays on: snapshots flow and the position is known again.
    await waitForState(page, (s, tick) => s.tick > tick && s.module.ownPosition !== null, after.tick);

    // Leaving is a normal close: no reconnect, the join form is back.
    await page.click("#leave");
    const left = await waitForState(page, (s) => s && !s.connected && s.connection === "closed");
    assert.equal(left.closed.code, 1000);
    assert.ok(await page.isVisible("#join"));
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    proxy.close();
  }
});

test("close codes are explained, and a full room does not reconnect", { timeout: 60_000 }, async () => {
  const config = writeConfig("max_players_per_room = 1\n");
  const small = await startServer(["--config", config]);
  try {
    const first = await newPage();
    await join(first, `${small.http}/?room=tiny`, "first");
    const second = await newPage();
    await second.goto(`${small.http}/?room=tiny`);
    await second.fill("#join-name", "second");
    await second.click("#join-button");
    const s = await waitForState(second, (s) => s && s.connection === "closed" && s.closed !== null);
    assert.equal(s.closed.code, 4002);
    assert.match(await second.textContent("#join-error"), /room is full/i);
    assert.ok(await second.isVisible("#join"), "the join form is back");
    // No reconnect attempts: still closed a moment later.
    await second.waitForTimeout(700);
    assert.equal((await state(second)).connection, "closed");
    assert.deepEqual(first.errors, []);
    await first.close();
    await second.close();
  } finally {
    small.child.kill("SIGTERM");
  }
});
