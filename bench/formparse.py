"""Reads HTML forms the way a browser submits them, so the login scenario survives template
changes: it posts every successful control of a form plus the fields it fills, never a
hard-coded list of hidden inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

# Controls a browser never submits by themselves (HTML §4.10.21.4 "constructing the entry list").
_NOT_SUBMITTED = frozenset({"submit", "button", "image", "reset", "file"})
_SUBMITS = frozenset({"submit", "image"})


@dataclass(frozen=True, slots=True)
class Control:
    """One ``<input>`` or ``<button>``; ``type`` is lower-case, as HTML treats it."""

    name: str
    type: str
    value: str
    checked: bool = False


@dataclass(frozen=True, slots=True)
class Form:
    action: str
    method: str
    controls: tuple[Control, ...]

    @property
    def has_password(self) -> bool:
        return any(c.type == "password" for c in self.controls)

    def submit_button(self, prefer: str = "") -> Control | None:
        """The named submit control whose value is ``prefer`` (any case), else the first one."""
        submits = [c for c in self.controls if c.type in _SUBMITS and c.name]
        for control in submits:
            if prefer and control.value.lower() == prefer.lower():
                return control
        return submits[0] if submits else None

    def submission(self, fill: Mapping[str, str], prefer: str = "") -> list[tuple[str, str]]:
        """The entries a browser would send after the person typed ``fill`` and pressed the
        submit button valued ``prefer``: fields keep their order, filled ones are replaced,
        fill entries the form lacks are appended."""
        entries: list[tuple[str, str]] = []
        used: set[str] = set()
        for control in self.controls:
            if not control.name or control.type in _NOT_SUBMITTED:
                continue
            if control.type in ("checkbox", "radio") and not control.checked:
                continue
            if control.name in fill:
                if control.name not in used:
                    entries.append((control.name, fill[control.name]))
                    used.add(control.name)
                continue
            entries.append((control.name, control.value))
        entries.extend((name, value) for name, value in fill.items() if name not in used)
        button = self.submit_button(prefer)
        if button is not None:
            entries.append((button.name, button.value))
        return entries


@dataclass(frozen=True, slots=True)
class Page:
    forms: tuple[Form, ...]
    links: tuple[str, ...]


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._open: tuple[str, str, list[Control]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._close_form()
            self._open = (a.get("action", ""), (a.get("method") or "get").lower(), [])
        elif tag in ("input", "button") and self._open is not None:
            default = "submit" if tag == "button" else "text"
            self._open[2].append(
                Control(
                    name=a.get("name", ""),
                    type=(a.get("type") or default).lower(),
                    value=a.get("value", ""),
                    checked="checked" in a,
                )
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._close_form()

    def close(self) -> None:
        super().close()
        self._close_form()

    def _close_form(self) -> None:
        if self._open is not None:
            action, method, controls = self._open
            self.forms.append(Form(action=action, method=method, controls=tuple(controls)))
            self._open = None


def parse_page(html: str) -> Page:
    """Forms (with their ``<input>`` and ``<button>`` controls) and link targets of a page."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return Page(forms=tuple(parser.forms), links=tuple(parser.links))
