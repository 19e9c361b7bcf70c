"""The admin console (``/console``): clients, password-database users, sessions and
revocation, signing keys and the audit log, for people in ``admin.groups``.

Server-rendered pages over the admin API's service layer (:mod:`passgate.admin`): the
door (:mod:`.gate`) admits whom the API admits, and each area's module parses a form,
calls the same service method the API calls, and renders. Every page works without
JavaScript; ``static/console.js`` adds confirmations and copy buttons.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from passgate.server.portal.console import audit, clients, keys, overview, sessions, users

routes: list[BaseRoute] = [
    *overview.routes,
    *clients.routes,
    *users.routes,
    *sessions.routes,
    *keys.routes,
    *audit.routes,
]

__all__ = ["routes"]
