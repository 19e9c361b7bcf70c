"""``/oauth2/auth``: may this proxied request through? oauth2-proxy's answers, byte for
byte: 202 with ``X-Auth-Request-*`` for a person the site lets in, 401 for nobody signed
in (or a 302 to the sign-in for a proxy that hands the answer to a browser), 403 for a
person the site does not let in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from passgate.clock import Clock
from passgate.forwardauth.people import SessionCache
from passgate.forwardauth.policy import ForwardAuthPolicy, HostRule, Requirements
from passgate.forwardauth.proxied import AmbiguousSiteError, ProxyHeaders, Site, resolve_site
from passgate.forwardauth.seal import Sealer
from passgate.oauth2.errors import InvalidTokenError
from passgate.provider.verify import TokenVerifier
from passgate.storage.models import BrowserSession, Claims
from passgate.tokens.issuer import TokenIssuer
from passgate.tokens.subject import decode_subject, encode_subject

__all__ = ["SCOPES", "Decision", "Gate", "Person"]

#: What the built-in client asks for, and what its tokens for sites carry.
SCOPES = ("openid", "email", "profile", "groups")
#: Its sign-in also asks for offline_access: then OAuth connectors keep the upstream
#: token that lets the browser session's person be checked again every refreshInterval.
SIGN_IN_SCOPES = (*SCOPES, "offline_access")
#: A cached token for a site is minted anew when less than this is left of it.
_TOKEN_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Person:
    """Who is asking: from a forward-auth cookie (``session``) or a bearer token."""

    claims: Claims
    connector_id: str
    sid: str = ""
    session: BrowserSession | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: ``status`` 202/401/403/302/400, and its headers (``location`` for a
    302; the ``X-Auth-Request-*`` headers of a 202)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    person: Person | None = None


class Gate:
    def __init__(
        self,
        policy: ForwardAuthPolicy,
        sealer: Sealer,
        people: SessionCache,
        verifier: TokenVerifier,
        issuer: TokenIssuer,
        clock: Clock,
        *,
        client_id: str,
    ) -> None:
        self.policy = policy
        self._sealer = sealer
        self.people = people
        self._verifier = verifier
        self._issuer = issuer
        self._clock = clock
        self._client_id = client_id
        self._tokens: dict[str, tuple[datetime, str, str, datetime]] = {}

    def site(self, headers: ProxyHeaders) -> Site:
        """The site the proxy asks about (``AmbiguousSiteError`` when unclear)."""
        default = "https" if self.policy.https_only else "http"
        return resolve_site(headers, self.policy.issuer_host, default, self.policy.is_site)

    async def check(
        self,
        headers: ProxyHeaders,
        query: Mapping[str, str],
        cookies: Sequence[str],
        bearer: str = "",
        *,
        allowed: int = 202,
    ) -> Decision:
        """``allowed`` is the status of a yes: oauth2-proxy's 202, or 200 for Envoy
        (whose ext_authz lets a request through on 200 only)."""
        try:
            site = self.site(headers)
        except AmbiguousSiteError as error:
            # 403, not 400: nginx relays only 2xx, 401 and 403 (anything else is a 500).
            return Decision(403, reason=str(error))
        rule = self.policy.rule_for(site.host)
        if rule.skips(site.paths):
            return Decision(allowed, reason="path needs no sign-in")
        person = await self.person(cookies, bearer)
        if person is None:
            browser = headers.passes_answer_to_browser() and headers.from_browser()
            # Only to a protected site's own sign-in (DESIGN §7: every target is checked).
            if browser and self.policy.is_site(site.host):
                # The proxy routes the site's /oauth2/ to Passgate (as for oauth2-proxy).
                back = urlencode({"rd": site.url})
                start = f"{site.scheme}://{site.netloc}/oauth2/start?{back}"
                return Decision(302, (("Location", start),), "not signed in")
            return Decision(401, reason="not signed in")
        requirements = (rule.requirements, Requirements.of_query(query))
        if not all(r.allows(person.claims.email, person.claims.groups) for r in requirements):
            return Decision(403, reason="not allowed on this site", person=person)
        return Decision(allowed, await self._identity_headers(person, rule), person=person)

    async def person(self, cookies: Sequence[str], bearer: str = "") -> Person | None:
        """The person a forward-auth cookie (any of ``cookies``: a browser may send two
        of one name) or a bearer token of ours stands for."""
        now = self._clock()
        for value in cookies:
            sealed = self._sealer.open(value)
            if sealed is None or sealed.expires_at <= now:
                continue
            session = await self.people.person(sealed.sid, sealed.issued_at)
            if session is not None:
                return Person(session.claims, session.connector_id, session.id, session)
        if bearer:
            try:
                token = await self._verifier.verify(bearer)
            except InvalidTokenError:
                return None
            # As oauth2-proxy: only tokens of the clients allowed to call the sites (never
            # forward-auth's own: a token one site was handed must not open another).
            if not set(token.audience) & set(self.policy.bearer_clients):
                return None
            return _person_of_token(token.subject, token.claims, token.session_id)
        return None

    async def _identity_headers(
        self, person: Person, rule: HostRule
    ) -> tuple[tuple[str, str], ...]:
        """oauth2-proxy's ``--set-xauthrequest`` headers, every ``X-Auth-Request-*`` one
        always sent (an empty value rather than none: Caddy 2.6 copies a missing header as
        its placeholder). ``Authorization`` only when passed: an empty one would replace
        a client's own, so a proxy copies it only for sites that get it."""
        claims = person.claims
        user = (
            {
                "email": claims.email,
                "preferred_username": claims.preferred_username,
                "name": claims.username,
                "user_id": claims.user_id,
                "sub": encode_subject(claims.user_id, person.connector_id),
            }[self.policy.user_claim]
            or claims.email
            or claims.user_id
        )
        headers = [
            ("X-Auth-Request-User", user),
            ("X-Auth-Request-Email", claims.email),
            ("X-Auth-Request-Preferred-Username", claims.preferred_username or claims.username),
            ("X-Auth-Request-Groups", ",".join(claims.groups)),
        ]
        access = _flag(rule.pass_access_token, self.policy.pass_access_token)
        bearer = _flag(rule.pass_authorization, self.policy.pass_authorization)
        id_token = access_token = ""
        if (access or bearer) and person.session is not None:
            id_token, access_token = await self._tokens_for(person.session)
        headers.append(("X-Auth-Request-Access-Token", access_token if access else ""))
        if bearer and id_token:
            headers.append(("Authorization", f"Bearer {id_token}"))
        return tuple(headers)

    async def _tokens_for(self, session: BrowserSession) -> tuple[str, str]:
        """An ID and an access token for the sites, minted once per session and identity
        (not per request: a signature costs more than everything else here)."""
        cached = self._tokens.get(session.id)
        now = self._clock()
        fresh = cached is not None and cached[0] == session.refreshed_at
        if cached is not None and fresh and cached[3] - now > _TOKEN_MARGIN:
            return cached[1], cached[2]
        claims, connector = session.claims, session.connector_id
        audience = [self._client_id]
        access = await self._issuer.access_token(
            claims=claims, client_id=self._client_id, audience=audience, scopes=SCOPES,
            connector_id=connector, session_id=session.id,
        )  # fmt: skip
        id_token, expiry = await self._issuer.id_token(
            claims=claims, client_id=self._client_id, audience=audience, scopes=SCOPES,
            connector_id=connector, session_id=session.id, access_token=access.token,
            auth_time=session.auth_time,
        )  # fmt: skip
        if len(self._tokens) > 50_000:
            self._tokens.clear()
        self._tokens[session.id] = (session.refreshed_at, id_token, access.token, expiry)
        return id_token, access.token


def _flag(site: bool | None, default: bool) -> bool:
    return default if site is None else site


def _person_of_token(subject: str, claims: Mapping[str, object], sid: str) -> Person:
    try:
        user_id, connector_id = decode_subject(subject)
    except ValueError:
        user_id, connector_id = subject, ""
    groups = claims.get("groups")
    return Person(
        Claims(
            user_id=user_id,
            username=str(claims.get("name") or ""),
            preferred_username=str(claims.get("preferred_username") or ""),
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
            groups=tuple(g for g in groups if isinstance(g, str))
            if isinstance(groups, list)
            else (),
        ),
        connector_id,
        sid,
    )
