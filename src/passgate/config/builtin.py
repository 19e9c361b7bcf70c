"""The clients Passgate adds itself, by reserved id: no static client may take one."""

from __future__ import annotations

__all__ = [
    "BUILT_IN_CLIENTS",
    "FORWARD_AUTH_CLIENT_ID",
    "KUBECONFIG_CLIENT_ID",
    "PORTAL_CLIENT_ID",
]

#: The /kubeconfig page signed people in as this public client before it joined the
#: portal's sign-in; the id stays reserved.
KUBECONFIG_CLIENT_ID = "passgate-kubeconfig"
#: Forward-auth signs people in as this public client.
FORWARD_AUTH_CLIENT_ID = "passgate-forward-auth"
#: Passgate's own pages (home, account, console) sign people in as this public client.
PORTAL_CLIENT_ID = "passgate-portal"
BUILT_IN_CLIENTS = frozenset({KUBECONFIG_CLIENT_ID, FORWARD_AUTH_CLIENT_ID, PORTAL_CLIENT_ID})
