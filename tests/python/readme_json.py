"""README's JSON example, run exactly as written: the block between the json-example markers in
README.md, against the server at argv[1] (in place of the README's default URL), with a bot of the
release binary playing in the same room. It must print the bot's position and the chat line it
sent itself."""

import os
import pathlib
import re
import subprocess
import sys
import time

root_url = sys.argv[1]  # ws://127.0.0.1:PORT/
repo = pathlib.Path(__file__).resolve().parents[2]
readme = (repo / "README.md").read_text()
found = re.search(r"<!-- json-example -->\n```python\n(.*?)```\n<!-- /json-example -->", readme, re.S)
if not found:
    sys.exit("README.md has no json-example block")
example = found.group(1)
default = 'url="ws://127.0.0.1:7700"'
if default not in example:
    sys.exit("the README example no longer takes its URL as url=...")
example = example.replace(default, f'url="{root_url}"')

binary = pathlib.Path(os.environ.get("TICKWIRE_BIN", repo / "target" / "release" / "tickwire"))
bot = subprocess.Popen(
    [str(binary), "bot", "--url", root_url + "ws", "--name", "walker", "--duration", "12", "--seed", "3"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
)
try:
    time.sleep(1.0)  # the bot's room exists, so the example joins it (the fullest with a seat)
    run = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60)
finally:
    bot.kill()
    bot.wait()
if run.returncode != 0:
    sys.exit(f"the README example failed ({run.returncode}):\n{run.stderr}")
lines = run.stdout.splitlines()
players = [line for line in lines if line.startswith("player ")]
chats = [line for line in lines if line == "chat py hello from Python"]
if not players or not chats:
    sys.exit("the README example printed no player position or not its own chat line:\n" + run.stdout)
x, y = (float(v) for v in players[-1].split()[2:4])
if not (0 < x < 1000 and 0 < y < 1000):
    sys.exit(f"implausible position: {players[-1]}")
print(f"README JSON example: {len(players)} positions of other players, its chat line heard")
