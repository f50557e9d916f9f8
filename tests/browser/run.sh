#!/usr/bin/env bash
# The browser check: plays assets/web in headless Chromium against the release server, with the
# arena's module (tests/browser/play.test.mjs) and the card game's (cards.test.mjs). Installs
# Debian's Chromium if it is missing and the pinned playwright-core from package-lock.json.
# Expects the release binary (cargo build --release); TICKWIRE_BIN overrides its path, CHROMIUM
# the browser's.
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
    echo "installing chromium (apt-get)"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q chromium
fi

binary="${TICKWIRE_BIN:-target/release/tickwire}"
if [ ! -x "$binary" ]; then
    echo "error: $binary not found; run cargo build --release first (or set TICKWIRE_BIN)" >&2
    exit 1
fi

(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
node --test tests/browser/
