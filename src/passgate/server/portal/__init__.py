"""Passgate's own pages for people: the home page, the kubeconfig page, the account page
and the console.

They sign in as the built-in client ``passgate-portal`` (:mod:`.signin`)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from passgate.server.portal import account, console, home, kubeconfig

routes: list[BaseRoute] = [*home.routes, *account.routes, *kubeconfig.routes, *console.routes]

__all__ = ["routes"]
