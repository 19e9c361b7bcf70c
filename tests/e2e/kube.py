"""kube-apiserver's OIDC token authentication, rewritten on PyJWT (independent of the
joserfc that Passgate signs with), for ``--oidc-issuer-url``, ``--oidc-client-id``,
``--oidc-username-claim=email`` and ``--oidc-groups-claim=groups``.

The rules follow the apiserver's ``oidc`` authenticator (go-oidc underneath), DESIGN §4:

- the issuer URL must be ``https``; discovery at ``<issuer>/.well-known/openid-configuration``
  must name exactly that issuer, byte for byte, and the token's ``iss`` must equal it;
- the signature must verify with a JWKS key chosen by ``kid`` (the JWKS is fetched again
  once when the kid is unknown), and the algorithm must be in the allow-list (RS256);
- ``aud`` (string or array) must contain the client id;
- ``exp`` is checked with no leeway: the token is refused once ``exp`` is before now;
  ``iat`` and ``nbf`` are not checked (go-oidc does not);
- with the ``email`` username claim, ``email_verified``, when present, must be the JSON
  boolean ``true``; the username is then the email itself (no issuer prefix);
- the groups claim, when present, is a string or an array of strings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt


class Rejected(Exception):
    """The apiserver would answer 401 for this token."""


@dataclass(frozen=True, slots=True)
class KubeUser:
    username: str
    groups: tuple[str, ...]


class KubeOIDCAuthenticator:
    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer_url: str,
        client_id: str,
        *,
        username_claim: str = "email",
        groups_claim: str = "groups",
        signing_algs: tuple[str, ...] = ("RS256",),
        require_https: bool = True,
    ) -> None:
        if require_https and urlsplit(issuer_url).scheme != "https":
            raise ValueError("--oidc-issuer-url must use the 'https' scheme")
        self._http = http
        self.issuer_url = issuer_url
        self.client_id = client_id
        self.username_claim = username_claim
        self.groups_claim = groups_claim
        self.signing_algs = signing_algs
        self._jwks_uri = ""
        self._keys: dict[str, jwt.PyJWK] = {}

    async def discover(self) -> None:
        well_known = self.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
        response = await self._http.get(well_known)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer") != self.issuer_url:
            raise Rejected(
                f"issuer did not match: expected {self.issuer_url!r}, "
                f"got {document.get('issuer')!r}"
            )
        self._jwks_uri = document["jwks_uri"]
        await self._fetch_keys()

    async def _fetch_keys(self) -> None:
        response = await self._http.get(self._jwks_uri)
        response.raise_for_status()
        keys: dict[str, jwt.PyJWK] = {}
        for item in response.json()["keys"]:
            if isinstance(item.get("kid"), str):
                keys[item["kid"]] = jwt.PyJWK(item)
        self._keys = keys

    async def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str):
            raise Rejected("token has no kid")
        if kid not in self._keys:
            await self._fetch_keys()  # the provider may have rotated since
        try:
            return self._keys[kid]
        except KeyError:
            raise Rejected(f"no key for kid {kid!r}") from None

    async def authenticate(self, token: str, *, now: float | None = None) -> KubeUser:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Rejected(f"malformed token: {error}") from None
        alg = header.get("alg")
        if alg not in self.signing_algs:
            raise Rejected(f"unsupported signing algorithm {alg!r}")
        key = await self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(self.signing_algs),
                audience=self.client_id,
                issuer=self.issuer_url,
                leeway=0,
                options={
                    "verify_exp": False,  # checked below, with the apiserver's comparison
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "exp"],
                },
            )
        except jwt.PyJWTError as error:
            raise Rejected(f"{type(error).__name__}: {error}") from None
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise Rejected("exp is not a number")
        if exp < (time.time() if now is None else now):  # go-oidc: Expiry.Before(now)
            raise Rejected("token is expired")
        return KubeUser(self._username(claims), self._groups(claims))

    def _username(self, claims: dict[str, Any]) -> str:
        username = claims.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise Rejected(f"claim {self.username_claim!r} is missing or not a string")
        if self.username_claim == "email" and "email_verified" in claims:
            verified = claims["email_verified"]
            if not isinstance(verified, bool):
                raise Rejected("could not parse 'email_verified' claim")
            if not verified:
                raise Rejected("email not verified")
        return username

    def _groups(self, claims: dict[str, Any]) -> tuple[str, ...]:
        if self.groups_claim not in claims:
            return ()
        groups = claims[self.groups_claim]
        if isinstance(groups, str):
            return (groups,)
        if isinstance(groups, list) and all(isinstance(item, str) for item in groups):
            return tuple(groups)
        raise Rejected(f"claim {self.groups_claim!r} is neither a string nor strings")
