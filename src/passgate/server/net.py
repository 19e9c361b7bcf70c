"""The client's address, trusting forwarding headers only from configured proxies."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from passgate.server.services import WebSettings


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: Request, web: WebSettings) -> str:
    peer = request.client.host if request.client else ""
    if web.remote_ip_header and _trusted(peer, web.trusted_proxies):
        forwarded = request.headers.get(web.remote_ip_header, "")
        # The right-most entry was added by our trusted proxy.
        candidate = forwarded.split(",")[-1].strip()
        if candidate:
            return candidate[:64]
    return peer
