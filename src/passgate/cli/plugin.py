"""``passgate get-token`` and ``passgate logout``: the kubectl exec credential plugin.

kubeconfigs call ``passgate get-token --issuer-url=... --client-id=...`` (also reachable as
``kubectl passgate get-token``). stdout carries only the ExecCredential; everything for the
person goes to stderr. Imports stay light: a cache hit must not load httpx or joserfc.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from passgate.durations import parse_duration
from passgate.kube.cache import LockTimeout, TokenCache, default_cache_dir
from passgate.kube.errors import PluginError
from passgate.kube.settings import (
    DEFAULT_LOGIN_TIMEOUT_S,
    DEFAULT_MARGIN_S,
    DEFAULT_SCOPES,
    GRANT_TYPES,
    PluginSettings,
    TLSOptions,
)


class Duration(click.ParamType[float, Any]):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        with contextlib.suppress(ValueError):
            return float(text)
        try:  # Go's syntax, as kubeconfigs and Dex configs write durations
            seconds = parse_duration(text).total_seconds()
        except ValueError:
            seconds = -1.0
        if seconds < 0:
            self.fail(f"{value!r} is not a duration (e.g. 30s, 1m30s, 500ms)", param, ctx)
        return seconds


def _say(message: str) -> None:
    click.echo(message, err=True)


def _warn(message: str) -> None:
    click.echo(f"passgate: warning: {message}", err=True)


def _fail(message: object) -> None:
    click.echo(f"passgate: {message}", err=True)
    sys.exit(1)


def _listen_address(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6]:PORT``; port 0 picks a free port."""
    host, port = text, "0"
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?", text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not HOST or HOST:PORT", param_hint="--listen-address"
        )
    host = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4) or "0"
    if int(port) > 65535:
        raise click.BadParameter(f"port {port} is out of range", param_hint="--listen-address")
    return host, int(port)


def _connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options get-token and logout share: who the issuer and client are, how to trust
    the issuer, which scopes, and where the cache is."""
    options = [
        click.option("--issuer-url", default="", help="The OpenID Connect issuer URL."),
        click.option("--client-id", default="", help="The OAuth client id (e.g. kubectl)."),
        click.option("--client-secret", default="", help="Only for a confidential client."),
        click.option(
            "--scope",
            "scopes",
            multiple=True,
            help=f"An extra scope (repeatable), added to: {' '.join(DEFAULT_SCOPES)}.",
        ),
        click.option(
            "--certificate-authority",
            type=click.Path(dir_okay=False),
            default="",
            help="PEM file of the CA to trust for the issuer (instead of the system's).",
        ),
        click.option(
            "--certificate-authority-data", default="", help="The same, as base64 of the PEM."
        ),
        click.option(
            "--insecure-skip-tls-verify", is_flag=True, help="Do not verify the issuer's TLS."
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Token cache directory [default: $KUBECACHEDIR/passgate or "
            "~/.kube/cache/passgate].",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _settings(options: dict[str, Any], **extra: Any) -> PluginSettings:
    if options["certificate_authority"] and options["certificate_authority_data"]:
        raise click.UsageError(
            "give --certificate-authority or --certificate-authority-data, not both"
        )
    tls = TLSOptions(
        ca_file=options["certificate_authority"],
        ca_data=options["certificate_authority_data"],
        insecure=options["insecure_skip_tls_verify"],
    )
    return PluginSettings(
        issuer=options["issuer_url"],
        client_id=options["client_id"],
        client_secret=options["client_secret"],
        extra_scopes=tuple(options["scopes"]),
        tls=tls,
        cache_dir=options["cache_dir"] or default_cache_dir(),
        **extra,
    )


def _require(options: dict[str, Any], *names: str) -> None:
    for name in names:
        if not options[name]:
            raise click.UsageError(f"--{name.replace('_', '-')} is required")


@contextlib.contextmanager
def _stdout_reserved() -> Iterator[None]:
    """Point fd 1 at stderr while we work, so nothing but the ExecCredential reaches
    kubectl: a browser started by ``webbrowser`` inherits our stdout and may print."""
    try:
        out, err = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not real files (click's test runner)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(out)
    os.dup2(err, out)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, out)
        os.close(saved)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


@click.command("get-token")
@_connection_options
@click.option(
    "--grant-type",
    type=click.Choice(GRANT_TYPES),
    default="auto",
    show_default=True,
    help="auto: the browser sign-in, or the device flow where no browser can open.",
)
@click.option(
    "--listen-address",
    default="127.0.0.1",
    show_default=True,
    help="HOST[:PORT] for the sign-in redirect listener; port 0 or none: a free port.",
)
@click.option(
    "--redirect-url-hostname",
    default="localhost",
    show_default=True,
    help="Host name in the loopback redirect URI registered for the client.",
)
@click.option("--skip-open-browser", is_flag=True, help="Print the sign-in URL, open nothing.")
@click.option("--force-refresh", is_flag=True, help="Refresh (or sign in) even if cached.")
@click.option(
    "--refresh-margin",
    type=Duration(),
    default=DEFAULT_MARGIN_S,
    help=f"Renew an ID token with less than this left [default: {DEFAULT_MARGIN_S:.0f}s].",
)
@click.option(
    "--login-timeout",
    type=Duration(),
    default=DEFAULT_LOGIN_TIMEOUT_S,
    help=f"Give up a sign-in after this long [default: {DEFAULT_LOGIN_TIMEOUT_S / 60:.0f}m].",
)
def get_token_command(**options: Any) -> None:
    """Print an ExecCredential with an ID token for kubectl (a kubeconfig exec plugin)."""
    from passgate.kube.credential import get_token
    from passgate.kube.execcred import ENV, ExecInfoError, exec_credential, parse_exec_info

    _require(options, "issuer_url", "client_id")
    host, port = _listen_address(options["listen_address"])
    settings = _settings(
        options,
        grant_type=options["grant_type"],
        listen_host=host,
        listen_port=port,
        redirect_hostname=options["redirect_url_hostname"],
        open_browser=not options["skip_open_browser"],
        force_refresh=options["force_refresh"],
        margin_s=options["refresh_margin"],
        login_timeout_s=options["login_timeout"],
    )
    try:
        request = parse_exec_info(os.environ.get(ENV), stdin_is_terminal=_stdin_is_terminal())
        with _stdout_reserved():
            tokens = get_token(
                settings,
                interactive=request.interactive,
                cache=TokenCache(settings.cache_dir, _warn),
                say=_say,
            )
    except (PluginError, ExecInfoError, LockTimeout) as error:
        _fail(error)
    except OSError as error:  # the cache directory is not writable, the disk is full, ...
        _fail(f"token cache {settings.cache_dir}: {error}")
    click.echo(exec_credential(request.api_version, tokens.id_token, tokens.expires_at))


@click.command("logout")
@_connection_options
@click.option("--all", "everything", is_flag=True, help="Forget every cached token.")
def logout_command(everything: bool, **options: Any) -> None:
    """Forget cached tokens and revoke their refresh tokens at the issuer."""
    from passgate.kube.credential import logout, network_revoker

    if not everything:
        _require(options, "issuer_url", "client_id")
    settings = _settings(options)
    cache = TokenCache(settings.cache_dir, _warn)
    key = None if everything else settings.cache_key()
    try:
        removed = logout(cache, _say, key=key, revoke=network_revoker(settings))
    except (PluginError, LockTimeout) as error:
        _fail(error)
    except OSError as error:
        _fail(f"token cache {settings.cache_dir}: {error}")
    _say(f"Removed {removed} cached token{'s' if removed != 1 else ''} from {settings.cache_dir}.")


COMMANDS = (get_token_command, logout_command)
