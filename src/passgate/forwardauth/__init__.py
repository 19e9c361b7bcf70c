"""Forward-auth for reverse proxies (oauth2-proxy's ``/oauth2/*`` contract), without HTTP:
the decision for each proxied request (``gate``), signing in through the browser's session
(``signin``), and the cookie that covers every site below one domain (``seal``)."""

from __future__ import annotations

from dataclasses import dataclass

from passgate.forwardauth.gate import Gate
from passgate.forwardauth.signin import SignIn

__all__ = ["ForwardAuth"]


@dataclass(frozen=True, slots=True)
class ForwardAuth:
    """What the composition root builds and the ``/oauth2/*`` endpoints call."""

    gate: Gate
    sign_in: SignIn
