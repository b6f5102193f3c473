"""A webhook receiver in its own process (so it does not share the deliverer's interpreter lock).

    python bench/receiver_process.py SECRET    # prints its port, then serves POST /hook and GET /stats

Every request's Standard Webhooks signature is verified; /stats returns how many verified and bad
requests arrived and, per verified one, arrival time minus the body's `timestamp`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    verifier = Webhook(sys.argv[1])
    stats: dict[str, list[float] | int] = {"verified": 0, "bad": 0, "latencies": []}

    async def hook(request: web.Request) -> web.Response:
        body = await request.text()
        arrived = time.time()
        try:
            event = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            stats["bad"] = int(stats["bad"]) + 1  # type: ignore[call-overload]
            return web.Response(status=401)
        stats["verified"] = int(stats["verified"]) + 1  # type: ignore[call-overload]
        sent = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        stats["latencies"].append(arrived - sent)  # type: ignore[union-attr]
        return web.Response(status=200)

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", get_stats)
    runner = web.AppRunner(app, access_log=None)

    async def serve() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
