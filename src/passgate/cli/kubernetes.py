"""``passgate kubeconfig`` and ``passgate apiserver-config``: Kubernetes set-up commands.

Imports stay light (no ``server/``): both commands run on laptops and in CI jobs.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import click

from passgate.cli.config_file import load
from passgate.cli.errors import CommandError

if TYPE_CHECKING:
    import httpx

    from passgate.config import Config
    from passgate.kube.apiserver import ApiserverSettings
    from passgate.kube.kubeconfig import ClusterEntry

FORMATS = ("all", "flags", "v1beta1", "v1", "webhook")


def _fetch_listing(issuer_url: str, ca_file: str | None) -> list[ClusterEntry]:
    """GET ``<issuer>/kubeconfig/clusters`` (sync httpx: a CLI, not the server)."""
    import httpx

    from passgate.config.kubernetes import pem_file
    from passgate.kube.kubeconfig import KubeconfigError, clusters_from_listing

    issuer = issuer_url.rstrip("/")
    ca_data = ""
    verify: bool | str = True
    if ca_file:
        try:
            ca_data = base64.b64encode(pem_file(ca_file).encode("ascii")).decode("ascii")
        except ValueError as error:
            raise CommandError(f"--certificate-authority: {error}") from None
        verify = ca_file
    url = f"{issuer}/kubeconfig/clusters"
    try:
        response = httpx.get(url, verify=verify, timeout=15.0, follow_redirects=False)
    except httpx.HTTPError as error:
        raise CommandError(f"cannot reach {url}: {error}") from None
    if response.status_code == 404:
        raise CommandError(_why_unlisted(issuer, response))
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}")
    try:
        return clusters_from_listing(response.json(), issuer, ca_data)
    except (ValueError, KubeconfigError) as error:
        raise CommandError(f"{url}: {error}") from None


def _why_unlisted(issuer: str, response: httpx.Response) -> str:
    """The 404 of the cluster listing: no clusters, or clusters kept private?"""
    from passgate.kube.kubeconfig import NO_CLUSTERS, NOT_PUBLISHED

    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if error == NO_CLUSTERS:
        return f"{issuer} has no clusters configured (kubernetes.clusters is empty)"
    if error == NOT_PUBLISHED:
        return (
            f"{issuer} has clusters but does not publish them (kubernetes.publishClusters "
            f"is false): download a kubeconfig at {issuer}/kubeconfig, or use --config "
            "with its config file"
        )
    return f"{issuer}/kubeconfig/clusters answered 404: is {issuer} a Passgate issuer?"


@click.command("kubeconfig")
@click.option(
    "--config",
    "config_file",
    type=click.Path(),
    help="The platform team's passgate config (reads kubernetes.clusters).",
)
@click.option("--issuer-url", help="Read the clusters from <issuer>/kubeconfig/clusters.")
@click.option(
    "--certificate-authority",
    "ca_file",
    type=click.Path(dir_okay=False),
    help="PEM CA of the issuer's TLS certificate (with --issuer-url).",
)
@click.option("--cluster", "clusters", multiple=True, help="A cluster to add (repeatable).")
@click.option("--all", "all_clusters", is_flag=True, help="Add every cluster.")
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    help="The file to merge into (default: first $KUBECONFIG entry or ~/.kube/config).",
)
@click.option("--output", "-o", "output", help="'-' prints the entries instead of merging.")
@click.option("--set-current-context", "current", help="Make this context current.")
def kubeconfig_command(
    config_file: str | None,
    issuer_url: str | None,
    ca_file: str | None,
    clusters: tuple[str, ...],
    all_clusters: bool,
    kubeconfig_path: str | None,
    output: str | None,
    current: str | None,
) -> None:
    """Add kubeconfig entries (cluster, exec user, context) that sign in with Passgate.

    Each cluster NAME gets a cluster NAME, a user NAME-passgate running `passgate
    get-token`, and a context NAME. Other entries of the file are kept.
    """
    from passgate.kube import kubeconfig

    if bool(config_file) == bool(issuer_url):
        raise click.UsageError("give exactly one of --config or --issuer-url")
    if bool(clusters) == all_clusters:
        raise click.UsageError("name clusters with --cluster NAME, or pass --all")
    if output not in (None, "-"):
        raise click.UsageError("--output takes only '-' (use --kubeconfig PATH for a file)")
    if output and kubeconfig_path:
        raise click.UsageError("--output - and --kubeconfig exclude each other")
    if config_file:
        available = kubeconfig.clusters_from_config(load(config_file))
        if not available:
            raise CommandError(
                f"{config_file} has no clusters configured (kubernetes.clusters is empty)"
            )
    else:
        assert issuer_url is not None
        available = _fetch_listing(issuer_url, ca_file)
        if not available:
            raise CommandError(f"{issuer_url} lists no clusters")
    try:
        chosen = kubeconfig.select(available, list(clusters))
        entries = kubeconfig.build(chosen)
        if output == "-":
            click.echo(
                kubeconfig.dump(kubeconfig.merge(None, entries, current_context=current)), nl=False
            )
            return
        path = Path(kubeconfig_path) if kubeconfig_path else kubeconfig.default_path()
        document = kubeconfig.merge(kubeconfig.read(path), entries, current_context=current)
        kubeconfig.write(path, document)
    except (kubeconfig.KubeconfigError, OSError) as error:
        raise CommandError(str(error)) from None
    names = ", ".join(entry.name for entry in chosen)
    click.echo(f"{path}: added context(s) {names}", err=True)
    click.echo(f"try: kubectl --context {chosen[0].name} get namespaces", err=True)


@click.command("apiserver-config")
@click.argument("config_file", type=click.Path())
@click.option("--cluster", required=True, help="A kubernetes.clusters name.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="all",
    show_default=True,
    help="flags, an AuthenticationConfiguration (v1beta1 or v1), all three, or the "
    "TokenReview webhook's kubeconfig and flags (honours revocation).",
)
@click.option(
    "--oidc-ca-file",
    "ca_file",
    help="Path of Passgate's CA on the apiserver host (for --oidc-ca-file).",
)
@click.option(
    "--webhook-config-file",
    "webhook_file",
    default=None,
    help="Where the webhook kubeconfig lives on the apiserver host (--format webhook).",
)
def apiserver_config_command(
    config_file: str, cluster: str, fmt: str, ca_file: str | None, webhook_file: str | None
) -> None:
    """Print the kube-apiserver settings that accept Passgate's tokens for CLUSTER.

    Prints nothing, and exits 1, when kube-apiserver would refuse the settings (an http
    issuer, for one): they would keep it from starting."""
    import yaml

    from passgate.kube import apiserver

    config = load(config_file)
    try:
        settings = apiserver.settings_for(config, cluster, ca_file=ca_file)
    except apiserver.UnknownClusterError as error:
        raise CommandError(str(error)) from None
    if fmt == "webhook":
        if not settings.issuer.startswith("https://"):
            click.echo(
                f"passgate: warning: the webhook is at {settings.issuer} (not https): "
                "the apiserver would send every token there unencrypted",
                err=True,
            )
    elif problems := apiserver.refusals(settings):
        raise CommandError(
            f"not printing settings kube-apiserver would refuse for {settings.issuer}: "
            + "; ".join(problems)
        )
    if settings.ca_pem and not ca_file and not config.kubernetes.issuer_ca:
        click.echo(
            f"note: write kubernetes.issuerCAData's PEM to {settings.ca_file} "
            "on the apiserver host (or pass --oidc-ca-file)",
            err=True,
        )
    if fmt == "webhook":
        _print_webhook(config, settings, webhook_file or apiserver.DEFAULT_WEBHOOK_FILE)
        return
    flag_text = "\n".join(apiserver.flags(settings)) + "\n"
    if fmt == "flags":
        click.echo(flag_text, nl=False)
        return
    documents = {
        version: yaml.safe_dump(
            apiserver.authentication_configuration(settings, version), sort_keys=False
        )
        for version in apiserver.AUTHENTICATION_API_VERSIONS
    }
    if fmt in documents:
        click.echo(documents[fmt], nl=False)
        return
    click.echo(f"# kube-apiserver flags for cluster {cluster} (Kubernetes any version)")
    click.echo(flag_text)
    for version, text in documents.items():
        since = "1.30" if version == "v1beta1" else "1.34"
        click.echo(
            f"# --- AuthenticationConfiguration {version} (Kubernetes {since}+), "
            "for --authentication-config instead of the --oidc-* flags"
        )
        click.echo("---")
        click.echo(text)


def _print_webhook(config: Config, settings: ApiserverSettings, webhook_file: str) -> None:
    """The webhook kubeconfig (for the file) with the flags that use it as comments."""
    import yaml

    from passgate.kube import apiserver

    review = config.kubernetes.token_review
    if not review.enabled:
        raise CommandError("kubernetes.tokenReview.enabled is false in this config")
    click.echo(f"# Save as {webhook_file} on the apiserver host; kube-apiserver flags:")
    for flag in apiserver.webhook_flags(webhook_file):
        click.echo(f"#   {flag}")
    if review.secret:
        click.echo("# users[].user.token is kubernetes.tokenReview's secret: keep the file private")
    click.echo(
        yaml.safe_dump(
            apiserver.webhook_kubeconfig(settings, secret=review.secret), sort_keys=False
        ),
        nl=False,
    )
