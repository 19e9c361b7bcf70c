"""The ``passgate`` command."""

from __future__ import annotations

import contextlib
import sys

import click

from passgate import __version__
from passgate.cli.errors import EXIT_FAILURE, CommandError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="passgate", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Passgate: a federated OpenID Connect provider for Kubernetes and internal websites."""


@cli.command()
@click.argument("config_file", type=click.Path())
@click.option("--debug", is_flag=True, help="On a failed start, show the traceback too.")
def serve(config_file: str, debug: bool) -> None:
    """Serve the issuer described by CONFIG_FILE (a Dex-compatible config.yaml).

    SIGTERM stops gracefully (web.shutdownGrace), SIGHUP reloads the file."""
    import asyncio  # here, not at the top: `passgate get-token` runs for every kubectl command

    from passgate.cli.config_file import load
    from passgate.cli.serve import StartupError, run
    from passgate.logs import configure

    config = load(config_file)
    configure(config.logger.level, config.logger.format, config.logger.exclude_fields)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        pass
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config, config_file))
    except StartupError as error:
        if debug:
            raise
        raise CommandError(str(error)) from None


@cli.command("check-config")
@click.argument("config_file", type=click.Path())
def check_config_command(config_file: str) -> None:
    """Validate CONFIG_FILE and report every problem with its key path."""
    from passgate.cli.config_file import require_readable
    from passgate.config import check_config

    require_readable(config_file)
    config, lines = check_config(config_file)
    for line in lines:
        click.echo(line, err=config is None)
    if config is None:
        sys.exit(EXIT_FAILURE)
    click.echo(f"{config_file}: configuration is valid")


@cli.command()
def version() -> None:
    """Print the version (as --version does)."""
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
