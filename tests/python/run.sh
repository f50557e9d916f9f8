#!/usr/bin/env bash
# The Python clients' checks: each tests/python/*.py is run against one release server, with the
# server's WebSocket URL as its argument, and must exit 0 (wss.py starts its own TLS server).
# Installs the pinned packages of requirements.txt into target/python-deps (pip; Debian's
# python3-pip when pip is missing), and openssl for wss.py's certificate when it is missing.
# Expects the release binary (cargo build --release); TICKWIRE_BIN overrides its path.
set -euo pipefail
cd "$(dirname "$0")/../.."

binary="${TICKWIRE_BIN:-target/release/tickwire}"
export TICKWIRE_BIN="$binary"
if [ ! -x "$binary" ]; then
    echo "error: $binary not found; run cargo build --release first (or set TICKWIRE_BIN)" >&2
    exit 1
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "installing pip (apt-get)"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q python3-pip
fi
if ! command -v openssl >/dev/null 2>&1; then
    echo "installing openssl (apt-get), for the wss:// check's test certificate"
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q openssl
fi
deps=target/python-deps
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$deps" --upgrade \
    -r tests/python/requirements.txt
export PYTHONPATH="$PWD/$deps"

log=$(mktemp -d)
# Created before the server starts, so the wait below never reads a file the server's shell
# has not opened yet.
: >"$log/out"
"$binary" serve --config tests/python/server.toml --addr 127.0.0.1:0 >"$log/out" 2>"$log/err" &
server=$!
trap 'kill -INT $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$log"' EXIT
url=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^listening on \(ws:[^ ]*\).*$/\1/p' "$log/out" || true)
    [ -n "$url" ] && break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "error: the server did not start:" >&2
    cat "$log/err" >&2
    exit 1
fi
root="${url%/ws}/"
for script in tests/python/*.py; do
    echo "python: $script"
    timeout 120 python3 "$script" "$root"
done
