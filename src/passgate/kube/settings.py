"""What ``passgate get-token`` was asked to do: plain data, cheap to import."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from passgate.kube.cache import CacheKey
from passgate.kube.errors import OIDCError

if TYPE_CHECKING:
    import ssl

# What kubectl needs: an ID token (openid) with the claims the apiserver maps (email,
# groups), and a refresh token for silent renewal (offline_access).
DEFAULT_SCOPES = ("openid", "email", "profile", "groups", "offline_access")
GrantType = Literal["auto", "authcode", "device"]
GRANT_TYPES: tuple[GrantType, ...] = ("auto", "authcode", "device")
DEFAULT_MARGIN_S = 30.0
DEFAULT_LOGIN_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """How to trust the issuer, kubeconfig-style: a CA file, base64 PEM, or neither."""

    ca_file: str = ""
    ca_data: str = ""  # base64 of a PEM bundle, as in --certificate-authority-data
    insecure: bool = False

    def verify(self) -> ssl.SSLContext | bool:
        """For httpx: only the given CA when one is given, else the system's roots."""
        import base64
        import binascii
        import ssl

        if self.insecure:
            return False
        if not (self.ca_file or self.ca_data):
            return True
        try:
            if self.ca_file:
                return ssl.create_default_context(cafile=self.ca_file)
            pem = base64.b64decode(self.ca_data, validate=True).decode("ascii")
            return ssl.create_default_context(cadata=pem)
        except (OSError, ssl.SSLError, binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise OIDCError(f"cannot load the issuer's certificate authority: {error}") from None

    def arguments(self) -> list[str]:
        if self.insecure:
            return ["--insecure-skip-tls-verify"]
        if self.ca_file:
            return [f"--certificate-authority={self.ca_file}"]
        if self.ca_data:
            return [f"--certificate-authority-data={self.ca_data}"]
        return []


@dataclass(frozen=True, slots=True)
class PluginSettings:
    issuer: str
    client_id: str
    client_secret: str = ""
    extra_scopes: tuple[str, ...] = ()
    tls: TLSOptions = field(default_factory=TLSOptions)
    grant_type: GrantType = "auto"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    redirect_hostname: str = "localhost"
    open_browser: bool = True
    force_refresh: bool = False
    cache_dir: Path = Path(".")
    margin_s: float = DEFAULT_MARGIN_S
    login_timeout_s: float = DEFAULT_LOGIN_TIMEOUT_S

    @property
    def scopes(self) -> tuple[str, ...]:
        """The defaults plus the extras, each once, in order."""
        return tuple(dict.fromkeys((*DEFAULT_SCOPES, *self.extra_scopes)))

    def cache_key(self) -> CacheKey:
        return CacheKey.of(self.issuer, self.client_id, self.scopes)

    def get_token_args(self) -> list[str]:
        """``passgate get-token`` arguments for this issuer, client, TLS trust and extra
        scopes: what a kubeconfig exec entry runs (the secret left out)."""
        return [
            "get-token",
            f"--issuer-url={self.issuer}",
            f"--client-id={self.client_id}",
            *self.tls.arguments(),
            *(f"--scope={scope}" for scope in self.extra_scopes),
        ]

    def sign_in_command(self, default_cache_dir: Path) -> str:
        """The command a person runs in a terminal to sign in (the secret left out)."""
        words = ["passgate", *self.get_token_args()]
        if self.client_secret:
            words.append("--client-secret=SECRET")
        if self.grant_type != "auto":
            words.append(f"--grant-type={self.grant_type}")
        if self.cache_dir != default_cache_dir:
            words.append(f"--cache-dir={self.cache_dir}")
        return shlex.join(words)
