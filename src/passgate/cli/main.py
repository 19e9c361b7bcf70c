"""The ``passgate`` command."""

from __future__ import annotations

import contextlib
import sys

import click

from passgate import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Passgate: a federated OpenID Connect provider for Kubernetes and internal websites."""


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
def serve(config_file: str) -> None:
    """Serve the issuer described by CONFIG_FILE (a Dex-compatible config.yaml)."""
    import asyncio  # here, not at the top: `passgate get-token` runs for every kubectl command

    from passgate.cli.serve import run
    from passgate.config import ConfigError, load_config
    from passgate.keys.encryption import EncryptionKeyError
    from passgate.logs import configure

    try:
        config = load_config(config_file)
    except ConfigError as error:
        click.echo(f"passgate: invalid configuration {config_file}:\n{error}", err=True)
        sys.exit(2)
    except OSError as error:
        click.echo(f"passgate: cannot read {config_file}: {error.strerror}", err=True)
        sys.exit(2)
    configure(config.logger.level, config.logger.format, config.logger.exclude_fields)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        pass
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config))
    except EncryptionKeyError as error:  # one line for the person, no traceback
        click.echo(f"passgate: cannot start: {error}", err=True)
        sys.exit(1)


@cli.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config_command(config_file: str) -> None:
    """Validate CONFIG_FILE and report every problem with its key path."""
    from passgate.config import check_config

    config, lines = check_config(config_file)
    for line in lines:
        click.echo(line, err=config is None)
    if config is None:
        sys.exit(1)
    click.echo(f"{config_file}: configuration is valid")


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"passgate {__version__}")


def main() -> None:
    cli()


# Kubernetes set-up: `passgate kubeconfig` and `passgate apiserver-config`.
from passgate.cli.kubernetes import apiserver_config_command, kubeconfig_command  # noqa: E402

cli.add_command(kubeconfig_command)
cli.add_command(apiserver_config_command)

# The kubectl exec credential plugin: `passgate get-token` and `passgate logout`.
from passgate.cli.plugin import COMMANDS as PLUGIN_COMMANDS  # noqa: E402

for plugin_command in PLUGIN_COMMANDS:
    cli.add_command(plugin_command)

# The admin API from a terminal: `passgate admin ...` (imports only click up front).
from passgate.cli.admin import admin_command  # noqa: E402

cli.add_command(admin_command)
