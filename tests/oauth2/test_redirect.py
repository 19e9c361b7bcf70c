import pytest

from passgate.oauth2.redirect import is_loopback_uri, is_valid_redirect_uri
from passgate.storage.models import Client

WEB = Client(id="web", secret="s", redirect_uris=("https://app.example.com/callback",))
KUBECTL = Client(id="kubectl", public=True, redirect_uris=("http://localhost:8000",))
OPEN_PUBLIC = Client(id="cli", public=True)


@pytest.mark.parametrize(
    ("client", "uri", "ok"),
    [
        (WEB, "https://app.example.com/callback", True),
        (WEB, "https://app.example.com/callback/", False),
        (WEB, "https://app.example.com/callback?x=1", False),
        (WEB, "https://APP.example.com/callback", False),
        (WEB, "https://app.example.com/callback#frag", False),
        (WEB, "http://localhost:9999/callback", False),
        (KUBECTL, "http://localhost:8000", True),
        (KUBECTL, "http://localhost:18000", True),  # RFC 8252 §7.3: any port
        (KUBECTL, "http://localhost:18000/other", False),
        (KUBECTL, "https://localhost:8000", False),
        (KUBECTL, "http://127.0.0.1:8000", False),
        (OPEN_PUBLIC, "http://127.0.0.1:41234/cb", True),
        (OPEN_PUBLIC, "http://[::1]:41234/cb", True),
        (OPEN_PUBLIC, "http://localhost.evil.com:80/", False),
        (OPEN_PUBLIC, "http://127.0.0.1:99999/", False),
        (OPEN_PUBLIC, "https://evil.example/", False),
    ],
)
def test_redirect_rules(client: Client, uri: str, ok: bool) -> None:
    assert is_valid_redirect_uri(client, uri) is ok


def test_loopback_detection() -> None:
    assert is_loopback_uri("http://127.0.0.2:1/")
    assert not is_loopback_uri("http://10.0.0.1/")
    assert not is_loopback_uri("http://[::1/")
