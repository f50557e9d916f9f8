// What every browser test file shares: spawning the release binary (server and bots) and
// Chromium, and reading the page's test hook, window.tickwire.state(). Not a test file itself
// (node --test runs only *.test.mjs here).
//
// TICKWIRE_BIN overrides the binary (default target/release/tickwire), CHROMIUM the browser
// (default /usr/bin/chromium).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const binary = path.resolve(root, process.env.TICKWIRE_BIN ?? "target/release/tickwire");
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Where the tests save their screenshots. */
export const screenshots = path.join(root, "target/browser");

const children = [];
const temporaryDirs = [];

/** Spawns a tickwire command; its output is kept (child.output) for failure messages. */
export function run(args) {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "info" } });
  child.output = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (text) => (child.output += text));
  child.stderr.on("data", (text) => (child.output += text));
  children.push(child);
  return child;
}

/** Starts a server on a free port; resolves to {child, ws, http}: its ws:// and http:// URLs. */
export function startServer(extraArgs = []) {
  const child = run(["serve", "--addr", "127.0.0.1:0", ...extraArgs]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server printed no URL in 20 s:\n${child.output}`)), 20_000);
    child.on("exit", (code) => reject(new Error(`the server exited with ${code}:\n${child.output}`)));
    child.stdout.on("data", () => {
      const match = child.output.match(/listening on (ws:\/\/(\S+?)\/ws)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, ws: match[1], http: `http://${match[2]}` });
      }
    });
  });
}

/** Writes a server config file in a fresh temporary directory; returns its path. */
export function writeConfig(text) {
  const dir = mkdtempSync(path.join(tmpdir(), "tickwire-config-"));
  temporaryDirs.push(dir);
  const file = path.join(dir, "server.toml");
  writeFileSync(file, text);
  return file;
}

/** Headless Chromium with a throwaway profile. */
export async function launchBrowser() {
  const userDataDir = mkdtempSync(path.join(tmpdir(), "tickwire-chromium-"));
  temporaryDirs.push(userDataDir);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** Stops every process this file spawned and removes the temporary files. */
export function cleanUp() {
  for (const child of children) child.kill("SIGTERM");
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
}

/** A new page whose errors (uncaught, console.error) are collected in page.errors. */
export async function newPage(browser) {
  const page = await browser.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") page.errors.push(message.text());
  });
  return page;
}

export async function state(page) {
  return page.evaluate(() => window.tickwire.state());
}

/** Waits until `predicate(state)` holds (it runs in the page; pass values as `arg`). */
export async function waitForState(page, predicate, arg, timeout = 15_000) {
  try {
    await page.waitForFunction(
      ({ source, arg }) => {
        const check = new Function("s", "arg", `return (${source})(s, arg);`);
        return check(window.tickwire?.state() ?? null, arg);
      },
      { source: predicate.toString(), arg },
      { timeout, polling: 50 },
    );
  } catch (error) {
    const last = await state(page).catch(() => null);
    throw new Error(`${error.message}\nwaiting for ${predicate}\nlast state: ${JSON.stringify(last)?.slice(0, 3000)}`);
  }
  return state(page);
}
