"""TLS towards the directory: one ``ssl.SSLContext`` built like Dex's ``tls.Config``.

ldap3 builds its own context and checks the host name with ``ssl.match_hostname``
(deprecated, and gone in Python 3.12), so :class:`ContextTls` hands ldap3 a prepared
context instead: the standard library then verifies the chain and the name during the
handshake, for LDAPS and StartTLS alike.
"""

from __future__ import annotations

import ssl
from typing import Any

from passgate.config.connectors.ldap import LDAPConfig
from passgate.connectors.ldap._ldap3 import ldap3

__all__ = ["ContextTls", "ssl_context"]


def ssl_context(config: LDAPConfig) -> ssl.SSLContext:
    """Dex: ``rootCAData`` (else the ``rootCA`` file) *replaces* the system trust store;
    ``clientCert``/``clientKey`` are presented when both are set. ``ValueError`` with a
    message naming the key when a file cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.2+, hostname checked
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.root_ca_data:
        context.load_verify_locations(cadata=config.root_ca_pem())
    elif config.root_ca:
        try:
            context.load_verify_locations(cafile=config.root_ca)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"cannot read the rootCA file {config.root_ca!r}: {error}") from None
    elif not config.insecure_skip_verify:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if config.client_cert and config.client_key:
        try:
            context.load_cert_chain(config.client_cert, config.client_key)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"cannot load clientCert {config.client_cert!r} / clientKey "
                f"{config.client_key!r}: {error}"
            ) from None
    return context


class ContextTls(ldap3.Tls):
    """ldap3's TLS settings object, wrapping sockets with our own context."""

    def __init__(self, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__()
        self._context = context
        self._server_name = server_name

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._server_name,
        )
