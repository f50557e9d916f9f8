"""A client written as most tutorials teach (Python `websockets`) sends a 1 MiB message, 50 times:
every time it must read the server's close, code 1009 with a reason, not a dropped connection.

    python3 tests/python/huge_message.py ws://127.0.0.1:7700/
"""

import asyncio
import sys

import websockets

TRIES = 50


async def one(url):
    """Sends the message, reads until the server closes; returns (code, reason) or what went wrong."""
    try:
        async with websockets.connect(url, max_size=None, open_timeout=5) as ws:
            await ws.send(b"\0" * (1 << 20))
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as closed:
        if closed.rcvd is None:
            return "no close frame"
        return (closed.rcvd.code, closed.rcvd.reason)
    except Exception as error:  # noqa: BLE001 - any other failure is reported as it is
        return repr(error)


async def main(url):
    outcomes = {}
    for _ in range(TRIES):
        outcome = await one(url)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    heard = sum(
        count
        for outcome, count in outcomes.items()
        if isinstance(outcome, tuple) and outcome[0] == 1009 and outcome[1]
    )
    print(f"huge message: {heard} of {TRIES} read close 1009 with a reason: {outcomes}")
    return 0 if heard == TRIES else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
