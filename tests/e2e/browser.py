"""Driving Passgate's HTML pages the way a browser does: cookies kept, redirects followed
one by one, forms parsed from the markup (stdlib ``html.parser``) and submitted with every
hidden field they carry, nothing built from knowledge of Passgate's internals."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def hidden(self) -> dict[str, str]:
        return dict(self.fields)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = Form(values.get("action", ""), values.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is None or not values.get("name"):
            return
        elif tag == "input":
            kind = values.get("type", "text").lower()
            pair = (values["name"], values.get("value", ""))
            if kind == "submit":
                self._current.buttons.append(pair)
            elif kind == "hidden":
                self._current.fields.append(pair)
        elif tag == "button" and values.get("type", "submit").lower() == "submit":
            self._current.buttons.append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def only_form(response: httpx.Response) -> Form:
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    forms = parse_forms(response.text)
    assert len(forms) == 1, forms
    return forms[0]


class Browser:
    """An httpx client that keeps cookies and follows redirects until one leaves the
    issuer (the redirect back to the client application, whose Location is returned)."""

    def __init__(self, client: httpx.AsyncClient, issuer_origin: str) -> None:
        self.client = client
        self.origin = issuer_origin.rstrip("/")
        self.visited: list[str] = []

    async def get(self, url: str) -> httpx.Response:
        return await self._follow(await self.client.get(url))

    async def submit(self, page: httpx.Response, form: Form, **values: str) -> httpx.Response:
        """POST the form with its hidden fields, the given values (a pressed button too)."""
        assert form.method == "post", form
        body = urlencode([*form.fields, *values.items()])
        response = await self.client.post(
            urljoin(str(page.url), form.action),
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        return await self._follow(response)

    async def _follow(self, response: httpx.Response) -> httpx.Response:
        self.visited.append(str(response.url))
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.origin + "/"):
                return response  # leaving the issuer: the caller reads Location
            response = await self.client.get(location)
            self.visited.append(location)
        raise AssertionError(f"redirect loop: {self.visited}")
