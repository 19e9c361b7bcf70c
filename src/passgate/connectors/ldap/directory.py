"""One conversation with the directory: connect, bind, search (Dex ``ldapConnector.do``).

ldap3 is synchronous, so a :class:`Session` lives inside one worker thread and one
connection, opened and closed per sign-in or refresh: nothing is shared between threads
but the ``ssl.SSLContext``. Every failure that says nothing about the person (the server
is down, TLS fails, the service account is refused, a base DN is gone) becomes
:class:`UpstreamUnavailableError`, which keeps sessions on refresh; the ones about the
person (no such user any more, several entries for one name) are :class:`ConnectorError`.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal, Self

from passgate.config.connectors.ldap import LDAPConfig
from passgate.connectors.base import ConnectorError, UpstreamUnavailableError
from passgate.connectors.ldap._ldap3 import ldap3, ldap_errors, results
from passgate.connectors.ldap.entry import Entry
from passgate.connectors.ldap.filters import group_filter, user_filter
from passgate.connectors.ldap.tls import ContextTls

__all__ = ["Session"]

_SCOPES: dict[str, Literal["LEVEL", "SUBTREE"]] = {"sub": ldap3.SUBTREE, "one": ldap3.LEVEL}
# Dex treats these bind answers as a wrong password; anything else is an error.
_WRONG_PASSWORD = frozenset(
    {results.RESULT_INVALID_CREDENTIALS, results.RESULT_CONSTRAINT_VIOLATION}
)


def _reason(error: BaseException) -> str:
    """A short, human explanation of a transport or TLS failure."""
    text = str(error)
    lowered = text.lower()
    if "mismatch" in lowered or "doesn't match" in lowered:
        return "the server's TLS certificate is not valid for this host name"
    if "certificate verify failed" in lowered:
        return "the server's TLS certificate is not trusted (check rootCA or rootCAData)"
    if any(sign in lowered for sign in ("wrong version", "unknown protocol", "unexpected_eof")):
        return "the server did not answer with TLS (plain LDAP port? see startTLS/insecureNoSSL)"
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host name"
    return text[:300] or type(error).__name__


class Session:
    """A connection bound as the service account (or anonymously, as Dex does when
    ``bindDN`` and ``bindPW`` are empty). Use as a context manager, in one thread."""

    def __init__(self, config: LDAPConfig, context: ssl.SSLContext, timeout: float) -> None:
        self._config = config
        host, port = config.address()
        self._where = f"{host}:{port}"
        ldaps = not config.insecure_no_ssl and not config.start_tls
        tls = None if config.insecure_no_ssl else ContextTls(context, host)
        seconds = max(1, math.ceil(timeout))  # ldap3 packs the receive timeout as an int
        server = ldap3.Server(
            host, port=port, use_ssl=ldaps, tls=tls, get_info=ldap3.NONE,
            connect_timeout=seconds, mode=ldap3.IP_SYSTEM_DEFAULT,
        )  # fmt: skip
        self._timeout = seconds
        self._conn = ldap3.Connection(
            server, auto_bind=ldap3.AUTO_BIND_NONE, client_strategy=ldap3.SYNC,
            read_only=True, check_names=False, raise_exceptions=False,
            receive_timeout=seconds, auto_referrals=False, return_empty_attributes=False,
            auto_escape=False,
        )  # fmt: skip

    # -- connection -------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            with self._failures("cannot connect to the LDAP server"):
                self._conn.open(read_server_info=False)
            if self._config.start_tls and not self._config.insecure_no_ssl:
                with self._failures("StartTLS with the LDAP server failed"):
                    if not self._conn.start_tls(read_server_info=False):
                        raise UpstreamUnavailableError(
                            f"StartTLS with the LDAP server {self._where} failed: "
                            f"{self._conn.last_error or 'refused'}"
                        )
            self.bind_service()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unbind and close the socket, whatever state a failure left them in."""
        with contextlib.suppress(Exception):
            self._conn.unbind()
        sock = getattr(self._conn, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    @contextlib.contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """ldap3's transport and protocol exceptions as an explained upstream failure."""
        try:
            yield
        except ConnectorError:
            raise
        except (ldap_errors.LDAPException, OSError) as error:
            raise UpstreamUnavailableError(f"{what} ({self._where}): {_reason(error)}") from error

    def _result(self) -> tuple[int, str]:
        result: dict[str, Any] = self._conn.result or {}
        code = result.get("result", -1)
        detail = " ".join(str(result.get(key) or "") for key in ("description", "message"))
        return (code if isinstance(code, int) else -1), detail.strip() or "no answer"

    def _bind(self, user: str, password: str) -> int:
        """One simple bind; the result code. The password goes as raw UTF-8 octets
        (RFC 4511 §4.2; what Dex sends), not through ldap3's SASLprep."""
        conn = self._conn
        if user:
            conn.authentication, conn.user, conn.password = (
                ldap3.SIMPLE, user, password.encode("utf-8"))  # fmt: skip
        else:
            conn.authentication, conn.user, conn.password = ldap3.ANONYMOUS, "", None
        with self._failures("the LDAP server did not answer a bind"):
            conn.bind(read_server_info=False)
        return self._result()[0]

    def bind_service(self) -> None:
        bind_dn = self._config.bind_dn
        if self._bind(bind_dn, self._config.bind_pw) == results.RESULT_SUCCESS:
            return
        detail = self._result()[1]
        if bind_dn:
            raise UpstreamUnavailableError(
                f"the LDAP server refused the service account bindDN {bind_dn!r} ({detail}): "
                "check bindDN and bindPW"
            )
        raise UpstreamUnavailableError(
            f"the LDAP server refused an anonymous bind ({detail}): set bindDN and bindPW"
        )

    def password_matches(self, dn: str, password: str) -> bool:
        """Dex: bind as the user's DN; invalidCredentials (or constraintViolation) is a
        wrong password. Leaves the connection bound as the user."""
        if not dn or not password:  # RFC 4513 §5.1.2: that would be an unauthenticated bind
            return False
        code = self._bind(dn, password)
        if code == results.RESULT_SUCCESS:
            return True
        if code in _WRONG_PASSWORD:
            return False
        raise UpstreamUnavailableError(
            f"the LDAP server could not check the password of {dn!r}: {self._result()[1]}"
        )

    # -- searches ----------------------------------------------------------------------
    def _search(
        self, what: str, base: str, scope: str, search: str, attributes: list[str], limit: int
    ) -> tuple[list[Entry], bool]:
        """The entries found, and whether the size limit cut the answer short."""
        with self._failures(f"the {what} search failed"):
            self._conn.search(
                base, search, search_scope=_SCOPES[scope], attributes=attributes or ["1.1"],
                size_limit=limit, time_limit=self._timeout,
            )  # fmt: skip
        code, detail = self._result()
        if code == results.RESULT_NO_SUCH_OBJECT:
            raise UpstreamUnavailableError(
                f"the {what} baseDN {base!r} does not exist on the LDAP server {self._where}"
            )
        if code not in (results.RESULT_SUCCESS, results.RESULT_SIZE_LIMIT_EXCEEDED):
            raise UpstreamUnavailableError(
                f"the {what} search with filter {search!r} failed: {detail}"
            )
        entries = [
            Entry(
                str(item["dn"]),
                {str(k): tuple(bytes(v) for v in vs) for k, vs in item["raw_attributes"].items()},
            )
            for item in self._conn.response or []
            if item.get("type") == "searchResEntry"  # not referrals (searchResRef)
        ]
        return entries, code == results.RESULT_SIZE_LIMIT_EXCEEDED

    def find_user(self, username: str) -> Entry | None:
        """Dex ``userEntry``: the one entry for ``username``; ``None`` when there is none."""
        config = self._config
        search = config.user_search
        wanted = [search.id_attr, search.email_attr, search.name_attr,
                  search.preferred_username_attr,
                  *(m.user_attr for m in config.group_search.matchers())]  # fmt: skip
        attributes = list(dict.fromkeys(name for name in wanted if name))
        found = user_filter(search.filter, search.username, username)
        entries, truncated = self._search(
            "userSearch", search.base_dn, search.scope, found, attributes, limit=2
        )
        if len(entries) > 1 or truncated:
            raise ConnectorError(f"the userSearch filter {found!r} matched several entries")
        return entries[0] if entries else None

    def groups(self, user: Entry) -> tuple[str, ...]:
        """Dex ``groups``: one search per matcher and user attribute value; the
        ``nameAttr`` of every group found, each once, in the order found."""
        config = self._config.group_search
        if not config.base_dn:
            return ()
        names: dict[str, None] = {}
        for matcher in config.matchers():
            if not (matcher.user_attr and matcher.group_attr):
                continue
            for value in user.values(matcher.user_attr):
                found = group_filter(config.filter, matcher.group_attr, value)
                attributes = [config.name_attr] if config.name_attr else []
                entries, _ = self._search(
                    "groupSearch", config.base_dn, config.scope, found, attributes, limit=0
                )
                for group in entries:
                    name = group.text(config.name_attr)
                    if not name:
                        raise UpstreamUnavailableError(
                            f"the group {group.dn!r} has no {config.name_attr!r} attribute "
                            "(groupSearch.nameAttr)"
                        )
                    names[name] = None
        return tuple(names)
