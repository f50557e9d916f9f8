// A recorded match watched in the browser: `tickwire replay tests/data/arena.twmatch --serve`
// at half speed, the page opened as a spectator (/?spectate=1). The page shows the recorded
// players moving (their scores rows, entities drawn, the tick advancing), then the match ends:
// the server closes with 1000 and a reason starting "replay over", and the page says so.
// Screenshot: target/browser/replay.png.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { cleanUp, launchBrowser, newPage, root, run, screenshots, state, waitForState } from "./harness.mjs";

let server;
let browser;

before(async () => {
  mkdirSync(screenshots, { recursive: true });
  const log = path.join(root, "tests/data/arena.twmatch");
  const child = run(["replay", log, "--serve", "--addr", "127.0.0.1:0", "--speed", "0.5"]);
  server = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in 20 s:\n${child.output}`)), 20_000);
    child.on("exit", (code) => reject(new Error(`replay --serve exited with ${code}:\n${child.output}`)));
    child.stdout.on("data", () => {
      const match = child.output.match(/listening on (ws:\/\/(\S+?)\/ws)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, http: `http://${match[2]}` });
      }
    });
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  cleanUp();
});

test("a spectator watches a recorded match to its end", { timeout: 60_000 }, async () => {
  const page = await newPage(browser);
  await page.goto(`${server.http}/?spectate=1`);
  // The recorded match's players, in the stats table, moving.
  let s = await waitForState(page, (s) => s && s.connected && s.spectator && s.scores.length === 3 && s.tick > 10);
  assert.equal(s.game, "arena");
  assert.equal(s.room, "match");
  const firstTick = s.tick;
  s = await waitForState(page, (s, first) => s.tick > first + 15, firstTick);
  // The three recorded players are drawn (and the recorded NPCs).
  assert.ok(s.module.entities.length >= 3, JSON.stringify(s.module.entities));
  await page.screenshot({ path: path.join(screenshots, "replay.png") });
  // Shown to the end of the recording (94 ticks).
  await waitForState(page, (s) => s.tick >= 85 || s.closed != null);
  const shown = (await state(page)).tick;
  // The end of the match: 1000, "replay over: the match ended (...)".
  s = await waitForState(page, (s) => s.closed != null || s.connection === "closed" || /replay over/.test(s.status), undefined, 30_000);
  const text = JSON.stringify([s.closed, s.status]);
  assert.match(text, /replay over|1000/, text);
  assert.equal(s.snapshotErrors, 0);
  assert.deepEqual(page.errors, []);
  assert.ok(shown >= 85, `the last tick shown before the end: ${shown}`);
});
