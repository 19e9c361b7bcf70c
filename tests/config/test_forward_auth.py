"""``forwardAuth``: its names, defaults and every error at once with its key path."""

from __future__ import annotations

from datetime import timedelta

from config.helpers import document, load, problems


def test_absent_means_off_and_the_example_names_load() -> None:
    assert load(document(enablePasswordDB=True)).forward_auth is None
    config = load(
        document(
            enablePasswordDB=True,
            forwardAuth={
                "cookieName": "_passgate_fa",
                "cookieDomain": ".apps.example.com",
                "lifetime": "12h",
                "allowedRedirectDomains": [".apps.example.com", "*.tools.example.com"],
                "passAuthorization": False,
                "hosts": [
                    {
                        "host": "Grafana.Apps.Example.com",
                        "allowedGroups": ["admins"],
                        "allowedEmails": ["Jane@Example.com"],
                        "allowedEmailDomains": ["@example.com"],
                        "skipAuthPaths": ["/healthz", "^/api/public/"],
                    }
                ],
            },
        )
    )
    section = config.forward_auth
    assert section is not None
    assert section.cookie_domain == ".apps.example.com"
    assert section.lifetime == timedelta(hours=12)
    assert section.allowed_redirect_domains == [".apps.example.com", ".tools.example.com"]
    [host] = section.hosts
    assert host.host == "grafana.apps.example.com"
    assert host.allowed_emails == ["jane@example.com"]
    assert host.allowed_email_domains == ["example.com"]
    assert section.user_claim == "email"
    assert config.warnings == []


def test_every_problem_at_once() -> None:
    doc = document(
        enablePasswordDB=True,
        forwardAuth={
            "cookieName": "__Host-fa",
            "cookieDomain": "com",
            "lifetime": "forever",
            "allowedRedirectDomains": ["https://evil/"],
            "userClaim": "phone",
            "hosts": [
                {"host": "a.example.com", "skipAuthPaths": ["healthz", "^(["]},
                {"host": "a.example.com"},
                {"allowedGroups": ["x"]},
            ],
            "unknownKey": 1,
        },
    )
    found = problems(doc)
    assert set(found) == {
        "forwardAuth.cookieName",
        "forwardAuth.cookieDomain",
        "forwardAuth.lifetime",
        "forwardAuth.allowedRedirectDomains[0]",
        "forwardAuth.userClaim",
        "forwardAuth.hosts[0].skipAuthPaths[0]",
        "forwardAuth.hosts[0].skipAuthPaths[1]",
        "forwardAuth.hosts[2].host",
        "forwardAuth.unknownKey",
    }


def test_duplicate_hosts_and_the_reserved_client() -> None:
    doc = document(
        enablePasswordDB=True,
        forwardAuth={"hosts": [{"host": "a.example.com"}, {"host": "A.example.com"}]},
        staticClients=[{"id": "passgate-forward-auth", "public": True}],
    )
    assert problems(doc) == {
        "forwardAuth.hosts[1].host": "duplicate host 'a.example.com' (also forwardAuth.hosts[0])",
        "staticClients[0].id": "'passgate-forward-auth' is reserved for forward-auth",
    }


def test_a_lifetime_beyond_the_session_is_a_warning() -> None:
    section = {"lifetime": "48h", "cookieDomain": ".apps.example.com"}
    config = load(document(enablePasswordDB=True, forwardAuth=section))
    assert config.warnings == [
        "forwardAuth.lifetime: is longer than sessions.absoluteLifetime; the cookie ends "
        "with the session"
    ]


def test_what_cannot_work_or_is_unsafe_is_said() -> None:
    host = {"host": "a.example.com", "allowedGroups": [" "], "allowedEmails": [""],
            "allowedEmailDomains": ["@"]}  # fmt: skip
    assert problems(document(enablePasswordDB=True, forwardAuth={"hosts": [host]})) == {
        "forwardAuth.hosts[0].allowedGroups[0]": "must not be empty",
        "forwardAuth.hosts[0].allowedEmails[0]": "must not be empty",
        "forwardAuth.hosts[0].allowedEmailDomains": "an email domain must not be just '@'",
    }
    doc = document(
        enablePasswordDB=True,
        issuer="https://sso.example.com/dex",
        sessions={"cookieName": "__Secure-sso"},
        forwardAuth={"cookieName": "sso", "bearerClients": ["passgate-forward-auth"]},
    )
    assert problems(doc) == {
        # The sessions cookie is __Host-sso on https: the same name to a browser's jar.
        "forwardAuth.cookieName": "must differ from sessions.cookieName (the browser would "
        "keep only one)",
        "forwardAuth.bearerClients[0]": "forward-auth's own tokens are never accepted as "
        "bearer tokens",
    }
    doc["forwardAuth"] = {"cookieSecure": False, "bearerClients": ["grafana-api"]}
    assert load(doc).warnings == [
        "forwardAuth.cookieSecure: is false on an https issuer: the cookie would travel "
        "over plain http too",
        "forwardAuth: names no site (cookieDomain, allowedRedirectDomains or hosts): "
        "nobody can be sent back to a site after signing in",
        "forwardAuth.bearerClients[0]: 'grafana-api' is not in staticClients (fine if the "
        "admin API adds it)",
    ]
