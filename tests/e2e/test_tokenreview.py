"""The TokenReview webhook on a real ``passgate serve`` over HTTPS (SQLite), called the way
kube-apiserver calls it: from the kubeconfig ``passgate apiserver-config --format webhook``
prints (server, CA, bearer secret), POSTing the JSON TokenReview its webhook client
marshals, in both apiVersions, with and without ``spec.audiences``, and judging the answer
with its rules (k8s.io/apiserver plugin/pkg/authenticator/token/webhook). A revocation
made through one replica is refused by the other within a second."""

from __future__ import annotations

import base64
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
import yaml
from click.testing import CliRunner

from e2e.support import PUBLIC_ID, Launcher, PassgateServer, kubectl_tokens
from passgate.cli.main import cli

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = "webhook-secret-for-the-apiserver"
VERSIONS = ("authentication.k8s.io/v1", "authentication.k8s.io/v1beta1")


@dataclass
class WebhookAuthenticator:
    """kube-apiserver's webhook token authenticator, configured from a kubeconfig."""

    server: str
    ca_pem: bytes
    token: str

    @classmethod
    def from_kubeconfig(cls, document: dict[str, Any]) -> WebhookAuthenticator:
        cluster = document["clusters"][0]["cluster"]
        return cls(
            server=cluster["server"],
            ca_pem=base64.b64decode(cluster["certificate-authority-data"]),
            token=document["users"][0]["user"].get("token", ""),
        )

    def at(self, base_url: str) -> WebhookAuthenticator:
        """The same webhook reached at another replica's port."""
        parts = urlsplit(self.server)
        port = urlsplit(base_url).port
        return WebhookAuthenticator(
            parts._replace(netloc=f"{parts.hostname}:{port}").geturl(), self.ca_pem, self.token
        )

    async def authenticate(
        self, token: str, version: str, audiences: list[str] | None = None
    ) -> dict[str, Any] | None:
        """The user the apiserver would accept, or None."""
        spec: dict[str, Any] = {"token": token}
        if audiences:
            spec["audiences"] = audiences
        body = {
            "kind": "TokenReview",
            "apiVersion": version,
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": {"user": {}},
        }
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        async with httpx.AsyncClient(verify=context, timeout=10) as http:
            response = await http.post(
                self.server,
                json=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/json, */*",
                    "User-Agent": "kube-apiserver/v1.31.0 (linux/amd64) kubernetes/abcdef",
                },
            )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["apiVersion"] == version
        assert answer["kind"] == "TokenReview"
        status = answer["status"]
        if not status.get("authenticated"):
            return None
        # webhook.go: with wanted audiences, the answer must name one of them.
        if audiences and not set(status.get("audiences") or ()) & set(audiences):
            return None
        user: dict[str, Any] = status["user"]
        return user


async def start(launcher: Launcher) -> tuple[PassgateServer, WebhookAuthenticator]:
    server = launcher.new(tls=True)
    server.extra = {
        "kubernetes": {
            "issuerCA": str(server.tls.ca) if server.tls else "",
            "clusters": [
                {
                    "name": "prod",
                    "server": "https://k8s.example.com:6443",
                    "clientID": PUBLIC_ID,
                    "usernamePrefix": "passgate:",
                }
            ],
            "tokenReview": {"secret": SECRET},
        }
    }
    server.write_config()
    await server.start()
    printed = CliRunner().invoke(
        cli,
        ["apiserver-config", str(server.config_path), "--cluster", "prod", "--format", "webhook"],
    )
    assert printed.exit_code == 0, printed.output
    return server, WebhookAuthenticator.from_kubeconfig(yaml.safe_load(printed.output))


async def revoke(server: PassgateServer, http: httpx.AsyncClient, token: str) -> None:
    response = await http.post(
        server.url("/token/revoke"), data={"token": token, "client_id": PUBLIC_ID}
    )
    assert response.status_code == 200, response.text


async def test_webhook_before_and_after_revocation(launcher: Launcher) -> None:
    server, webhook = await start(launcher)
    async with server.http() as http:
        laptop = await kubectl_tokens(server, http)
        desktop = await kubectl_tokens(server, http)
        for version in VERSIONS:
            for audiences in (None, [PUBLIC_ID, "https://kubernetes.default.svc"]):
                user = await webhook.authenticate(laptop["id_token"], version, audiences)
                assert user is not None
                assert user["username"] == f"passgate:{server.user.email}"
                assert user["groups"] == list(server.user.groups)
                assert list(user["extra"]) == ["passgate.io/session-id"]
            assert await webhook.authenticate(laptop["id_token"], version, ["other"]) is None
        without_secret = WebhookAuthenticator(webhook.server, webhook.ca_pem, "wrong")
        with pytest.raises(AssertionError):
            await without_secret.authenticate(laptop["id_token"], VERSIONS[0])
        await revoke(server, http, laptop["refresh_token"])
        for version in VERSIONS:
            for audiences in (None, [PUBLIC_ID]):
                assert await webhook.authenticate(laptop["id_token"], version, audiences) is None
                assert await webhook.authenticate(laptop["access_token"], version) is None
                assert await webhook.authenticate(desktop["id_token"], version, audiences)
        refreshed = await http.post(
            server.url("/token"),
            data={"grant_type": "refresh_token", "client_id": PUBLIC_ID,
                  "refresh_token": laptop["refresh_token"]},
        )  # fmt: skip
        assert refreshed.status_code == 400


async def test_a_revocation_through_one_replica_is_refused_by_the_other_within_a_second(
    launcher: Launcher,
) -> None:
    first, webhook = await start(launcher)
    second = launcher.replica(first)
    await second.start()
    other = webhook.at(second.base_url)
    async with first.http() as http:
        tokens = await kubectl_tokens(first, http)
        kept = await kubectl_tokens(first, http)
        assert await other.authenticate(tokens["id_token"], VERSIONS[0]) is not None
        await revoke(first, http, tokens["refresh_token"])
        revoked_at = time.monotonic()
        while await other.authenticate(tokens["id_token"], VERSIONS[0]) is not None:
            assert time.monotonic() - revoked_at < 1.0, "the replica still accepts the token"
            await anyio.sleep(0.05)
        assert time.monotonic() - revoked_at < 1.0
        assert await other.authenticate(kept["id_token"], VERSIONS[1]) is not None
        # The same for a bulk revocation made with the other replica's own endpoint.
        await revoke(second, http, kept["refresh_token"])
        assert await other.authenticate(kept["id_token"], VERSIONS[1]) is None
        started = time.monotonic()
        while await webhook.authenticate(kept["id_token"], VERSIONS[1]) is not None:
            assert time.monotonic() - started < 1.0
            await anyio.sleep(0.05)
