"""What every ``passgate admin`` command shares: the server it talks to (:class:`Target`),
how it prints, fails and reads secrets."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from passgate.cli.tables import Columns, Row, table

__all__ = ["API_PATH", "Target", "deleted", "fail", "pass_target", "read_secret", "segment"]

API_PATH = "/admin/v1"


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    ca_file: str | None
    output: str

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API; the JSON answer (None for 204), or exit 1 with the error."""
        import httpx

        if not self.url:
            fail("--url (or $PASSGATE_URL) is required: the issuer URL")
        if not self.token:
            fail("--token (or $PASSGATE_ADMIN_TOKEN) is required")
        url = self.url.rstrip("/") + API_PATH + path
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            with httpx.Client(verify=self.ca_file or True, timeout=30.0) as client:
                response = client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.url}: {exc}")
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {"error": f"HTTP {response.status_code}", "error_description": response.text}
        if response.status_code >= 400:
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            fail(f"{response.status_code} {error}: {description}".rstrip(": "))
        return body

    def show(self, body: Any, rows: Sequence[Row] | None = None, columns: Columns = ()) -> None:
        if self.output == "json":
            click.echo(json.dumps(body, indent=2))
        elif rows is not None:
            click.echo(table(rows, columns))


def fail(message: str) -> NoReturn:
    click.echo(f"passgate admin: {message}", err=True)
    sys.exit(1)


pass_target = click.make_pass_decorator(Target)


def read_secret(what: str) -> str:
    if sys.stdin.isatty():
        value: str = click.prompt(what.capitalize(), hide_input=True, confirmation_prompt=True)
        return value
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(f"no {what} on stdin")
    return value


def deleted(target: Target, what: str, name: str) -> None:
    if target.output == "json":
        target.show({"deleted": what, "id": name})
    else:
        click.echo(f"deleted {what} {name}")


def segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="@")
