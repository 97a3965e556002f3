"""Run in a fresh interpreter by bench/run.py: how long the in-process fixture takes to its first exchange.

Prints one JSON line: ``import_ms`` (importing the simulator) and ``first_exchange_ms``
(``build_in_process(Settings())`` then one token exchange through its ``.client()``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

started = time.perf_counter()

from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, OPENID_SCOPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT  # noqa: E402
from spotnana_sim.core.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Settings  # noqa: E402
from spotnana_sim.reference.user_detail import DEMO_SUBJECT_TOKEN  # noqa: E402  (timed imports)
from spotnana_sim.server.inprocess import build_in_process  # noqa: E402

imported = time.perf_counter()


async def first_exchange() -> int:
    sim = build_in_process(Settings())
    try:
        async with sim.client() as client:
            response = await client.post(TOKEN_ENDPOINT_PATH, data={
                "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                "subject_token": DEMO_SUBJECT_TOKEN, "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE,
            })
            return response.status_code
    finally:
        await sim.aclose()


def main() -> int:
    status = asyncio.run(first_exchange())
    done = time.perf_counter()
    print(json.dumps({"status": status, "import_ms": round((imported - started) * 1000, 1),
                      "first_exchange_ms": round((done - imported) * 1000, 1)}))
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
