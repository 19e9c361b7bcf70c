"""The console's first page: what each area is for, one click away."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from passgate.server.portal.console.gate import Console, page


async def overview(console: Console) -> Response:
    return console.render("console/overview.html", "overview", {})


routes = [Route("/console", page(overview), methods=["GET"], name="console")]
