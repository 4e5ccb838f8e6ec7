"""The metrics page (per day over 7, 30 or 90 days, drawn as server-side SVG)."""
from __future__ import annotations

import asyncio

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from console.charts import bar_chart, hbar_chart
from console.metrics import compute
from console.review import LOCAL_TZ
from console.web import (
    Console,
)


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/metrics")
    @web.login_required
    async def metrics(request: Request) -> HTTPResponse:
        days = {"7": 7, "30": 30, "90": 90}.get(request.args.get("days") or "30", 30)
        behind = await web.refresh()
        numbers = await asyncio.to_thread(compute, web.engine, days)
        short = [day[5:] for day in numbers.days]  # MM-DD under the bars
        charts = {
            "conversations": bar_chart(short, numbers.conversations, "Conversations per day"),
            "messages": bar_chart(short, numbers.messages, "Patient messages per day"),
            "requests": bar_chart(
                short,
                [b + c for b, c in zip(numbers.bookings, numbers.callbacks, strict=True)],
                "Bookings and call-backs per day",
            ),
            "topics": hbar_chart(numbers.top_topics, "Top asked topics"),
        }
        return web.render(
            "metrics.html",
            session=request.ctx.session,
            m=numbers,
            days=days,
            timezone=LOCAL_TZ.key,
            charts=charts,
            behind=behind,
        )
