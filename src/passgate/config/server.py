"""Listeners and presentation: ``web``, ``telemetry``, ``grpc``, ``frontend``, ``logger``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from passgate.config.base import DexModel, Loc, raise_issues
from passgate.config.fields import Duration, IPNetworkText, ListenAddress, TLSVersion, is_origin

__all__ = [
    "ClientRemoteIP",
    "FrontendConfig",
    "GRPCConfig",
    "LoggerConfig",
    "TelemetryConfig",
    "WebConfig",
    "WebHeaders",
]


class WebHeaders(DexModel):
    """``web.headers``: security headers added to every response (unset when empty)."""

    content_security_policy: str = Field(default="", alias="Content-Security-Policy")
    x_frame_options: str = Field(default="", alias="X-Frame-Options")
    x_content_type_options: str = Field(default="", alias="X-Content-Type-Options")
    x_xss_protection: str = Field(default="", alias="X-XSS-Protection")
    strict_transport_security: str = Field(default="", alias="Strict-Transport-Security")

    def as_dict(self) -> dict[str, str]:
        """Header name → value for the headers that are set."""
        return {key: value for key, value in self.model_dump(by_alias=True).items() if value}


class ClientRemoteIP(DexModel):
    """``web.clientRemoteIP``: take the client address from ``header`` when the request
    comes from one of ``trustedProxies`` (CIDR ranges or addresses)."""

    header: str = ""
    trusted_proxies: list[IPNetworkText] = Field(default_factory=list, alias="trustedProxies")

    @field_validator("header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if any(c.isspace() or c == ":" for c in value):
            raise ValueError("must be a header name such as X-Forwarded-For")
        return value


def _authorization_if_empty(value: Any) -> Any:
    return ["Authorization"] if value == [] else value  # Dex: no list means Authorization


class WebConfig(DexModel):
    """``web``: the public listener(s). At least one of ``http``/``https`` is required."""

    http: ListenAddress | None = None
    https: ListenAddress | None = None
    tls_cert: str | None = Field(default=None, alias="tlsCert")
    tls_key: str | None = Field(default=None, alias="tlsKey")
    tls_min_version: TLSVersion | None = Field(default=None, alias="tlsMinVersion")
    tls_max_version: TLSVersion | None = Field(default=None, alias="tlsMaxVersion")
    allowed_origins: list[str] = Field(default_factory=list, alias="allowedOrigins")
    allowed_headers: Annotated[list[str], BeforeValidator(_authorization_if_empty)] = Field(
        default_factory=lambda: ["Authorization"], alias="allowedHeaders"
    )
    headers: WebHeaders = Field(default_factory=WebHeaders)
    client_remote_ip: ClientRemoteIP = Field(default_factory=ClientRemoteIP, alias="clientRemoteIP")
    #: After SIGTERM: how long Passgate keeps serving, not ready, so a load balancer stops
    #: sending it new requests before it stops listening (a Passgate addition).
    shutdown_grace: Duration = Field(default=timedelta(seconds=5), alias="shutdownGrace")

    @model_validator(mode="after")
    def _consistent(self) -> WebConfig:
        issues: list[tuple[Loc, str]] = []
        if self.https and not self.tls_cert:
            issues.append((("tlsCert",), "is required when https is set"))
        if self.https and not self.tls_key:
            issues.append((("tlsKey",), "is required when https is set"))
        low, high = self.tls_min_version, self.tls_max_version
        if low and high and low > high:
            issues.append((("tlsMinVersion",), f"{low} is greater than tlsMaxVersion {high}"))
        raise_issues(type(self).__name__, issues)
        for index, origin in enumerate(self.allowed_origins):
            if not is_origin(origin):
                self.note(
                    ("allowedOrigins", index),
                    f"{origin!r} is not an origin (scheme://host[:port], no path or trailing "
                    "slash) and will never match a browser's Origin header",
                )
        return self


class TelemetryConfig(DexModel):
    """``telemetry``: the metrics and health listener."""

    http: ListenAddress | None = None
    enable_profiling: bool = Field(default=False, alias="enableProfiling")

    @model_validator(mode="after")
    def _profiling(self) -> TelemetryConfig:
        if self.enable_profiling:
            self.note(("enableProfiling",), "is recognised but not implemented yet")
        return self


class GRPCConfig(DexModel):
    """``grpc``: Dex's admin gRPC API. Accepted and checked; not served yet."""

    addr: ListenAddress | None = None
    tls_cert: str = Field(default="", alias="tlsCert")
    tls_key: str = Field(default="", alias="tlsKey")
    tls_client_ca: str = Field(default="", alias="tlsClientCA")
    tls_min_version: TLSVersion | None = Field(default=None, alias="tlsMinVersion")
    tls_max_version: TLSVersion | None = Field(default=None, alias="tlsMaxVersion")
    reflection: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> GRPCConfig:
        # The same checks, in the same order, as Dex's Config.Validate.
        issues: list[tuple[Loc, str]] = []
        if (self.tls_cert or self.tls_key) and not self.addr:
            issues.append((("addr",), "is required when a gRPC TLS cert or key is set"))
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "tlsKey" if self.tls_cert else "tlsCert"
            issues.append(((missing,), "set both a gRPC TLS cert and key, or neither"))
        if self.tls_client_ca and not self.tls_cert:
            issues.append((("tlsClientCA",), "needs tlsCert (a client CA without a server cert)"))
        low, high = self.tls_min_version, self.tls_max_version
        if low and high and low > high:
            issues.append((("tlsMinVersion",), f"{low} is greater than tlsMaxVersion {high}"))
        raise_issues(type(self).__name__, issues)
        self.note((), "the gRPC API is not served yet by this Passgate version; grpc is ignored")
        return self


class FrontendConfig(DexModel):
    """``frontend``: branding of the login pages."""

    issuer: str = ""  # the name shown on pages (Dex's default: "dex")
    logo_url: str = Field(default="", alias="logoURL")
    dir: str = ""
    theme: str = ""
    extra: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dir(self) -> FrontendConfig:
        if self.dir:
            self.note(
                ("dir",),
                "Dex template directories do not fit Passgate's templates; "
                "dir is recognised but ignored",
            )
        return self


_LEVELS = ("debug", "info", "warn", "warning", "error")


def _level(value: Any) -> Any:
    if isinstance(value, str):
        if value == "":
            return "info"
        if value.lower() in _LEVELS:
            return value.lower()
        raise ValueError(f"must be one of {', '.join(_LEVELS)}")
    return value


def _format(value: Any) -> Any:
    return "text" if value == "" else value


class LoggerConfig(DexModel):
    """``logger``: ``excludeFields`` are log keys dropped everywhere (e.g. ``email``)."""

    level: Annotated[str, BeforeValidator(_level)] = "info"
    format: Annotated[Literal["text", "json"], BeforeValidator(_format)] = "text"
    exclude_fields: list[str] = Field(default_factory=list, alias="excludeFields")
