"""Passgate's own pages for people: the home page, the account page and the console.

They sign in as the built-in client ``passgate-portal`` (:mod:`.signin`)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from passgate.server.portal import console, home

routes: list[BaseRoute] = [*home.routes, *console.routes]

__all__ = ["routes"]
