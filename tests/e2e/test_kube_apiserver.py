"""Acceptance: Passgate's ID tokens pass kube-apiserver's OIDC rules (DESIGN §4), checked
by an independent verifier (``e2e.kube``, PyJWT) against an ``https`` issuer served by
``passgate serve`` with ``web.https`` and a certificate from a throwaway CA."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from e2e.kube import KubeOIDCAuthenticator, KubeUser, Rejected
from e2e.support import PUBLIC_ID, Launcher, PassgateServer, kubectl_tokens
from passgate.storage.sql.sqlite import SQLiteStorage

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


async def start_https(launcher: Launcher, **expiry: Any) -> PassgateServer:
    server = launcher.new(tls=True, expiry=expiry)
    assert server.issuer.startswith("https://127.0.0.1:")
    await server.start()
    return server


async def signing_key(server: PassgateServer) -> tuple[Any, str]:
    """Passgate's current private signing key, read from its SQLite file, so a test can
    sign tokens with claims Passgate would never issue and see the rules refuse them."""
    storage = SQLiteStorage(server.storage["config"]["file"])
    await storage.open()
    try:
        keys = await storage.get_keys()
    finally:
        await storage.close()
    assert keys.signing_key is not None
    return jwt.PyJWK(dict(keys.signing_key)).key, str(keys.signing_key["kid"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(part: dict[str, Any]) -> str:
    return b64(json.dumps(part).encode())


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{b64_json(header)}.{b64_json(claims)}.{signature}"


async def published_key(server: PassgateServer, http: httpx.AsyncClient) -> bytes:
    """The PEM of the key in Passgate's JWKS (what an attacker can read)."""
    jwks = (await http.get(server.url("/keys"))).json()
    public = jwt.PyJWK(jwks["keys"][0]).key
    pem: bytes = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def hs256_with_public_key(pem: bytes, token: str) -> str:
    """The classic algorithm confusion (RFC 8725 §2.1): the token re-signed with HS256
    keyed with the published RSA key, built by hand (PyJWT refuses to make it)."""
    _, payload, _ = token.split(".")
    header = b64_json({**jwt.get_unverified_header(token), "alg": "HS256"})
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


async def test_token_from_passgate_passes_kube_apiserver_rules(launcher: Launcher) -> None:
    server = await start_https(launcher)
    # The certificate is really checked: without the test CA, TLS fails.
    async with httpx.AsyncClient(verify=ssl.create_default_context()) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(server.url("/.well-known/openid-configuration"))
    async with server.http() as http:
        apiserver = KubeOIDCAuthenticator(http, server.issuer, PUBLIC_ID)
        await apiserver.discover()
        expected = KubeUser(server.user.email, server.user.groups)

        tokens = await kubectl_tokens(server, http)
        assert await apiserver.authenticate(tokens["id_token"]) == expected
        claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        assert claims["email_verified"] is True  # present, so the rule above applied
        assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"

        # kubectl's plugin refreshes silently: the refreshed ID token passes as well.
        refreshed = await http.post(
            server.url("/token"),
            data={
                "grant_type": "refresh_token",
                "client_id": PUBLIC_ID,
                "refresh_token": tokens["refresh_token"],
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        assert await apiserver.authenticate(refreshed.json()["id_token"]) == expected

        # A web app asking for kubectl's audience (a trusted peer) gets aud = [kubectl,
        # web-app]: "aud contains the client id" accepts it.
        peer = await server.password_grant(
            http, scope=f"openid email groups audience:server:client_id:{PUBLIC_ID}"
        )
        peer_claims = jwt.decode(peer["id_token"], options={"verify_signature": False})
        assert isinstance(peer_claims["aud"], list)
        assert PUBLIC_ID in peer_claims["aud"]
        assert await apiserver.authenticate(peer["id_token"]) == expected


async def test_kube_apiserver_rules_refuse_bad_tokens(launcher: Launcher) -> None:
    server = await start_https(launcher)
    async with server.http() as http:
        apiserver = KubeOIDCAuthenticator(http, server.issuer, PUBLIC_ID)
        await apiserver.discover()
        good = (await kubectl_tokens(server, http))["id_token"]
        header = jwt.get_unverified_header(good)
        claims = jwt.decode(good, options={"verify_signature": False})
        head, payload, signature = good.split(".")

        async def refused(token: str, reason: str) -> None:
            with pytest.raises(Rejected, match=reason):
                await apiserver.authenticate(token)

        # Tampering: another email under the original signature; a flipped signature.
        other = b64_json({**claims, "email": "root@example.com"})
        await refused(f"{head}.{other}.{signature}", "InvalidSignatureError")
        flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
        await refused(f"{head}.{payload}.{flipped}", "InvalidSignatureError")
        # Algorithms outside the allow-list: none, and HS256 keyed with the public key.
        await refused(unsigned({**header, "alg": "none"}, claims), "unsupported signing")
        await refused(hs256_with_public_key(await published_key(server, http), good), "unsupported")
        # A key Passgate never published, under Passgate's kid and under a new one.
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": header["kid"]})
        await refused(forged, "InvalidSignatureError")
        forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "other"})
        await refused(forged, "no key for kid")
        # A genuine token for another client: aud is web-app only.
        web = (await server.password_grant(http, scope="openid email groups"))["id_token"]
        await refused(web, "InvalidAudienceError")

        # exp with no leeway (an injected clock; real expiry is the next test's).
        exp = claims["exp"]
        assert await apiserver.authenticate(good, now=exp - 1)
        assert await apiserver.authenticate(good, now=exp)
        with pytest.raises(Rejected, match="expired"):
            await apiserver.authenticate(good, now=exp + 0.5)

        # Claims Passgate does not issue, signed with its real key: the rules, not only
        # the signature, decide.
        private, kid = await signing_key(server)

        def signed(**changes: Any) -> str:
            body = {**claims, **changes}
            body = {name: value for name, value in body.items() if value is not None}
            return jwt.encode(body, private, algorithm="RS256", headers={"kid": kid})

        assert await apiserver.authenticate(signed()) == KubeUser(
            server.user.email, server.user.groups
        )
        await refused(signed(iss=server.issuer + "/"), "InvalidIssuerError")
        await refused(signed(iss=server.issuer.replace("https", "http")), "InvalidIssuerError")
        await refused(signed(email_verified=False), "email not verified")
        await refused(signed(email_verified="true"), "could not parse 'email_verified'")
        await refused(signed(email=None), "missing or not a string")
        await refused(signed(groups=["ok", 1]), "neither a string nor strings")
        await refused(signed(aud=["someone-else"]), "InvalidAudienceError")
        await refused(signed(exp=int(time.time()) - 1), "expired")
        # Still accepted by the apiserver's rules: no email_verified, groups as a string.
        only_email = await apiserver.authenticate(signed(email_verified=None))
        assert only_email.username == server.user.email
        assert (await apiserver.authenticate(signed(groups="admins"))).groups == ("admins",)


async def test_discovery_must_name_the_issuer_exactly(launcher: Launcher) -> None:
    server = await start_https(launcher)
    async with server.http() as http:
        with pytest.raises(Rejected, match="issuer did not match"):
            await KubeOIDCAuthenticator(http, server.issuer + "/", PUBLIC_ID).discover()
        document = (await http.get(server.url("/.well-known/openid-configuration"))).json()
        assert document["issuer"] == server.issuer
        assert document["jwks_uri"].startswith(server.issuer + "/")
        assert "RS256" in document["id_token_signing_alg_values_supported"]
    with pytest.raises(ValueError, match="https"):
        KubeOIDCAuthenticator(http, server.issuer.replace("https", "http"), PUBLIC_ID)


async def test_expired_token_is_refused(launcher: Launcher) -> None:
    """Real time, no leeway: refused by the apiserver's rules and by Passgate itself."""
    server = await start_https(launcher, idTokens="3s")
    async with server.http() as http:
        apiserver = KubeOIDCAuthenticator(http, server.issuer, PUBLIC_ID)
        await apiserver.discover()
        tokens = await kubectl_tokens(server, http)
        await apiserver.authenticate(tokens["id_token"])
        exp = jwt.decode(tokens["id_token"], options={"verify_signature": False})["exp"]
        assert tokens["expires_in"] <= 3
        await anyio.sleep(max(0.0, exp - time.time()) + 1.1)
        with pytest.raises(Rejected, match="expired"):
            await apiserver.authenticate(tokens["id_token"])
        userinfo = await http.get(
            server.url("/userinfo"), headers={"authorization": f"Bearer {tokens['access_token']}"}
        )
        assert userinfo.status_code == 401
        assert userinfo.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("minimum", "refused"),
    [("1.3", ssl.TLSVersion.TLSv1_2), (None, None)],
    ids=["tlsMinVersion-1.3", "default"],
)
async def test_https_listener_honours_tls_min_version(
    launcher: Launcher, minimum: str | None, refused: ssl.TLSVersion | None
) -> None:
    """``web.tlsMinVersion`` is applied (TLS 1.2 at least by default, as in Dex)."""
    server = launcher.new(tls=True, web={"tlsMinVersion": minimum} if minimum else {})
    await server.start()
    assert server.tls is not None
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=str(server.tls.ca))
        context.minimum_version = context.maximum_version = version
        async with httpx.AsyncClient(verify=context) as client:
            if version == refused:
                with pytest.raises(httpx.ConnectError):
                    await client.get(server.url("/healthz"))
            else:
                assert (await client.get(server.url("/healthz"))).status_code == 200
