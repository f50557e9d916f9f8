"""wss:// from the binary, as a Python client sees it: a certificate made now with openssl, a
release server whose [tls] section points at it, and `websockets` with an SSL context that trusts
only that certificate. The client joins in JSON mode next to `tickwire bot --ca-cert` (binary, over
TLS too), chats, hears the bot, reads snapshots and leaves; the bot's report shows a clean game; a
client that does not trust the certificate is refused by its own TLS check; the page and /healthz
answer over https.

    python3 tests/python/wss.py ws://127.0.0.1:PORT/   (the URL is unused: this starts its own server)
"""

import asyncio
import json
import os
import pathlib
import re
import ssl
import subprocess
import sys
import tempfile
import urllib.request

import websockets

repo = pathlib.Path(__file__).resolve().parents[2]
binary = pathlib.Path(os.environ.get("TICKWIRE_BIN", repo / "target" / "release" / "tickwire"))


def make_certificate(folder):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         # A server's certificate, not an authority's (rustls, in `tickwire bot`, refuses an
         # authority's certificate presented by a server; openssl makes one by default).
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def start_server(folder, cert, key):
    config = folder / "server.toml"
    config.write_text(f'[tls]\ncert = "{cert}"\nkey = "{key}"\n')
    server = subprocess.Popen(
        [str(binary), "serve", "--config", str(config), "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = server.stdout.readline()
    found = re.match(r"listening on (wss://\S+)", line)
    if not found:
        server.kill()
        sys.exit(f"the TLS server did not start: {line!r} {server.stderr.read()}")
    return server, found.group(1)


async def play(url, context, start_bot):
    async with websockets.connect(url, ssl=context, open_timeout=5) as ws:
        hello = {"version": 4, "game": "arena", "schema": 1, "name": "tls-py", "room": "tls"}
        await ws.send(json.dumps({"Hello": hello}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))["Welcome"]
        # The bot joins after us, so we hear its chat line (sent half a second after it joins).
        bot = start_bot()
        await ws.send(json.dumps({"Chat": {"text": "over wss"}}))
        snapshots, heard = 0, set()
        deadline = asyncio.get_running_loop().time() + 15
        while snapshots < 10 or len(heard) < 2:
            if asyncio.get_running_loop().time() > deadline:
                sys.exit(f"after 15 s: {snapshots} snapshots, chat heard: {heard}")
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            snapshots += "Snapshot" in msg
            if msg.get("Chat", {}).get("text") in ("over wss", "bot over wss"):
                heard.add(msg["Chat"]["text"])
        return welcome["room"], snapshots, bot


async def refused(url):
    try:
        async with websockets.connect(url, ssl=ssl.create_default_context(), open_timeout=5):
            return "connected without trusting the certificate"
    except ssl.SSLCertVerificationError:
        return None
    except Exception as error:  # noqa: BLE001 - reported as it is
        return repr(error)


def main():
    with tempfile.TemporaryDirectory() as temp:
        folder = pathlib.Path(temp)
        cert, key = make_certificate(folder)
        server, url = start_server(folder, cert, key)
        try:
            context = ssl.create_default_context(cafile=str(cert))
            report_file = folder / "bot.json"
            def start_bot():
                return subprocess.Popen(
                    [str(binary), "bot", "--url", url, "--ca-cert", str(cert), "--room", "tls",
                     "--name", "tls-bot", "--duration", "4", "--seed", "5",
                     "--chat", "bot over wss", "--report", str(report_file)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                )

            room, snapshots, bot = asyncio.run(play(url, context, start_bot))
            _, bot_errors = bot.communicate(timeout=30)
            if bot.returncode != 0:
                sys.exit(f"tickwire bot over wss failed ({bot.returncode}): {bot_errors}")
            report = json.loads(report_file.read_text())
            if report["snapshots"] < 60 or report["snapshot_errors"] != 0 or report["chat_received"] < 2:
                sys.exit(f"tickwire bot over wss: {report}")
            problem = asyncio.run(refused(url))
            if problem:
                sys.exit(f"a client that does not trust the certificate: {problem}")
            https = url.replace("wss://", "https://").removesuffix("/ws")
            with urllib.request.urlopen(https + "/healthz", context=context, timeout=5) as answer:
                health = answer.read().decode()
            with urllib.request.urlopen(https + "/", context=context, timeout=5) as answer:
                page = answer.read().decode()
            if health != "ok\n" or "<html" not in page.lower():
                sys.exit(f"https routes: {health!r}, page of {len(page)} bytes")
        finally:
            server.terminate()
            server.wait(timeout=10)
        print(f"wss: joined {room} in JSON over TLS next to a binary bot ({report['snapshots']} "
              f"snapshots, 0 errors), {snapshots} snapshots, both chat lines heard; untrusted "
              "client refused; /healthz and the page over https")


if __name__ == "__main__":
    main()
