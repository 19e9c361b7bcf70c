"""Calling an upstream over HTTP, the same way for every connector.

Every upstream call goes through :func:`send`: explicit timeouts, a cap on the body so a
misbehaving upstream cannot exhaust memory, and one :class:`ConnectorError` (naming the
call) for transport failures, error statuses, rate limits and bodies that are not JSON.
The OAuth 2.0 token request and RFC 8288 ``Link`` pagination live here too, so the
GitHub, GitLab, Microsoft, Google and OIDC connectors share one implementation.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote_plus

import anyio
import httpx

from passgate.connectors.base import ConnectorError, UpstreamUnavailableError

__all__ = [
    "DEADLINE_SECONDS",
    "MAX_BODY_BYTES",
    "TIMEOUT",
    "OAuth2Client",
    "UpstreamRateLimitedError",
    "UpstreamRefusedError",
    "UpstreamUnavailableError",
    "client",
    "collect_pages",
    "describe",
    "fetch_json",
    "is_text",
    "json_body",
    "json_object",
    "next_link",
    "optional_text",
    "send",
    "ssl_context",
]

#: Connect, read, write and pool timeouts of every upstream call (seconds).
TIMEOUT = httpx.Timeout(10.0)
#: The most one upstream call may take in all, however the upstream trickles its answer.
DEADLINE_SECONDS = 30.0
#: The largest upstream answer read; a bigger one is "garbage", not a reason to run dry.
MAX_BODY_BYTES = 2 * 1024 * 1024


class UpstreamRateLimitedError(UpstreamUnavailableError):
    """The upstream refused because of a rate limit (HTTP 429, or GitHub's 403 with
    ``X-RateLimit-Remaining: 0``). ``retry_after`` is in seconds, when it said."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamRefusedError(ConnectorError):
    """The upstream answered an error of ours or the person's (4xx, or an OAuth error with
    HTTP 200): ``status`` and the upstream's error ``code`` (OAuth ``error``, Microsoft
    Graph ``error.code``, "" if none), so a connector can tell a revoked grant from a
    misconfigured client."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error_code(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("code")
    return error if isinstance(error, str) else ""


def describe(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def ssl_context(root_cas: Iterable[str], *, ca_data: Iterable[str] = ()) -> ssl.SSLContext | bool:
    """The trust store for ``rootCAs`` / ``rootCA`` (PEM files) plus ``ca_data`` (PEM
    text, e.g. GitLab's ``rootCAData``), or the default one."""
    paths = [path for path in root_cas if path]
    pems = [pem for pem in ca_data if pem]
    if not paths and not pems:
        return True
    context = ssl.create_default_context()
    for path in paths:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"cannot load the CA file {path!r}: {error}") from error
    for pem in pems:
        try:
            context.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as error:
            raise ValueError(f"cannot load the CA certificates: {error}") from error
    return context


def client(
    root_cas: Iterable[str] = (),
    timeout: httpx.Timeout = TIMEOUT,
    *,
    insecure_skip_verify: bool = False,
    ca_data: Iterable[str] = (),
) -> httpx.AsyncClient:
    """The HTTP client a connector owns: no redirects followed, explicit timeouts.
    ``insecure_skip_verify`` is Dex's option of that name (config warns about it);
    ``ca_data`` are PEM texts trusted besides ``root_cas`` files."""
    verify = False if insecure_skip_verify else ssl_context(root_cas, ca_data=ca_data)
    return httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False)


async def send(http: httpx.AsyncClient, what: str, request: httpx.Request) -> httpx.Response:
    """Send ``request`` and read at most :data:`MAX_BODY_BYTES` of the answer, all within
    :data:`DEADLINE_SECONDS` (httpx's timeouts bound each read, not the whole answer)."""
    with anyio.move_on_after(DEADLINE_SECONDS) as scope:
        response = await _send(http, what, request)
    if scope.cancelled_caught:
        raise UpstreamUnavailableError(f"{what} failed: timed out")
    return response


async def _send(http: httpx.AsyncClient, what: str, request: httpx.Request) -> httpx.Response:
    try:
        response = await http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise UpstreamUnavailableError(f"{what} answered more than {MAX_BODY_BYTES} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise UpstreamUnavailableError(
                        f"{what} answered more than {MAX_BODY_BYTES} bytes"
                    )
        finally:
            await response.aclose()
    except httpx.HTTPError as error:
        raise UpstreamUnavailableError(f"{what} failed: {describe(error)}") from error
    return httpx.Response(
        response.status_code, headers=response.headers, content=bytes(body), request=request
    )


def _retry_after(response: httpx.Response) -> int | None:
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


def _check_rate_limit(what: str, response: httpx.Response) -> None:
    exhausted = response.headers.get("x-ratelimit-remaining") == "0"
    if response.status_code == 429 or (response.status_code == 403 and exhausted):
        retry_after = _retry_after(response)
        hint = f"; retry in {retry_after} s" if retry_after is not None else ""
        raise UpstreamRateLimitedError(f"{what} is rate limiting us{hint}", retry_after)


def _error_detail(body: Any) -> str:
    """The upstream's own words for an error: OAuth ``error``/``error_description``,
    GitHub and GitLab ``message``, Microsoft Graph ``error.message``."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, str):
        description = body.get("error_description")
        if isinstance(description, str) and description.strip():
            # Microsoft appends "\r\nTrace ID: ...\r\nCorrelation ID: ..." lines.
            return f": {error}: {description.strip().splitlines()[0]}"
        return f": {error}"
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        code = error.get("code")
        return (f": {code}" if isinstance(code, str) else "") + f": {error['message']}"
    message = body.get("message")
    return f": {message}" if isinstance(message, str) else ""


def json_body(what: str, response: httpx.Response, expected: str = "JSON") -> Any:
    """The JSON of a 2xx answer; a :class:`ConnectorError` for anything else.

    5xx answers and 2xx answers that are not JSON raise :class:`UpstreamUnavailableError`:
    the upstream is broken, which says nothing about the person signing in."""
    _check_rate_limit(what, response)
    try:
        body = response.json()
    except ValueError:
        body = None
        if response.is_success:
            raise UpstreamUnavailableError(f"{what} did not answer {expected}") from None
    if not response.is_success:
        detail = _error_detail(body)[:300]
        message = f"{what} answered HTTP {response.status_code}{detail}"
        if response.status_code >= 500:
            raise UpstreamUnavailableError(message)
        raise UpstreamRefusedError(message, response.status_code, _error_code(body))
    return body


def json_object(what: str, response: httpx.Response) -> dict[str, Any]:
    body = json_body(what, response, "a JSON object")
    if not isinstance(body, dict):
        raise UpstreamUnavailableError(f"{what} did not answer a JSON object")
    return body


async def fetch_json(http: httpx.AsyncClient, what: str, request: httpx.Request) -> dict[str, Any]:
    """Send ``request``; its JSON object, or a :class:`ConnectorError` naming ``what``."""
    return json_object(what, await send(http, what, request))


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` target of the ``Link`` header (RFC 8288), absolute."""
    header = response.headers.get("link", "")
    for match in _LINK.finditer(header):
        params = match.group(2)
        rel = re.search(r';\s*rel\s*=\s*"?([^";]*)"?', params)
        if rel and "next" in rel.group(1).split():
            return str(response.request.url.join(match.group(1)))
    return None


def is_text(value: object) -> bool:
    """A non-empty string field of an upstream's JSON (an id, a login, a path)."""
    return isinstance(value, str) and bool(value)


def optional_text(body: dict[str, Any], key: str) -> str:
    """A nullable string field (a name, an email): ``""`` when null, missing or not text."""
    value = body.get(key)
    return value if isinstance(value, str) else ""


_Item = TypeVar("_Item")


async def collect_pages(
    what: str,
    first: str,
    fetch: Callable[[str], Awaitable[tuple[list[_Item], str | None]]],
    max_pages: int,
) -> list[_Item]:
    """Every item of a paged collection: ``fetch`` answers a page's items and the URL of
    the next page (``None`` on the last), having checked that URL may carry the token.
    At most ``max_pages`` pages, so an upstream whose pages loop cannot hang a login."""
    items: list[_Item] = []
    url: str | None = first
    for _ in range(max_pages):
        if url is None:
            break
        page, url = await fetch(url)
        items += page
    if url is not None:
        raise UpstreamUnavailableError(f"{what} has more than {max_pages} pages")
    return items


def _form_escape(value: str) -> str:
    return quote_plus(value, safe="")


@dataclass(frozen=True, slots=True)
class OAuth2Client:
    """Passgate as an OAuth 2.0 client of the upstream (RFC 6749)."""

    client_id: str
    client_secret: str = field(repr=False)
    #: Send the credentials in the form instead of HTTP Basic (``basicAuthUnsupported``).
    credentials_in_body: bool = False

    async def token_request(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        form: dict[str, str],
        what: str = "upstream token endpoint",
    ) -> dict[str, Any]:
        """POST ``form`` to the token endpoint; the token response (RFC 6749 §5.1).

        An OAuth error answered with HTTP 200, as GitHub does, is an error too."""
        headers = {"Accept": "application/json"}
        if self.credentials_in_body:
            form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        else:
            # RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic.
            pair = f"{_form_escape(self.client_id)}:{_form_escape(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = http.build_request("POST", token_url, data=form, headers=headers)
        body = await fetch_json(http, what, request)
        if isinstance(body.get("error"), str):
            message = f"{what} refused{_error_detail(body)}"
            raise UpstreamRefusedError(message, 200, _error_code(body))
        return body
