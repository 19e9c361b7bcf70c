from bench.formparse import Control, parse_page

LOGIN = """
<html><body>
<a href="/dex/auth/local?state=x&amp;back=1">local</a>
<form method="POST" action="/dex/auth/local/login?state=abc&amp;x=1">
  <input type="hidden" name="csrf_token" value="t&lt;k">
  <input type="hidden" name="extra" value="e">
  <input id="login" name="login" type="text" value="prefilled">
  <input name="password" type="password">
  <input type="checkbox" name="remember" value="yes">
  <input type="checkbox" name="agree" value="ok" checked>
  <input name="untyped" value="u">
  <button type="submit" id="submit-login">Sign in</button>
</form>
</body></html>
"""

APPROVAL = """
<form method="post" action="">
  <input type="hidden" name="req" value="r1">
  <input type="hidden" name="csrf_token" value="c1">
  <button type="submit" name="approval" value="rejected">Cancel</button>
  <button type="submit" name="approval" value="approve">Grant access</button>
</form>
<form action="/other"><input type="hidden" name="n" value="v"></form>
"""


def test_login_form_is_read_with_unescaped_attributes() -> None:
    page = parse_page(LOGIN)
    assert page.links == ("/dex/auth/local?state=x&back=1",)
    (form,) = page.forms
    assert form.action == "/dex/auth/local/login?state=abc&x=1"
    assert form.method == "post"
    assert form.has_password
    assert Control("csrf_token", "hidden", "t<k") in form.controls
    assert Control("untyped", "text", "u") in form.controls


def test_submission_is_what_a_browser_sends() -> None:
    (form,) = parse_page(LOGIN).forms
    entries = form.submission({"login": "me@example.com", "password": "pw"})
    assert entries == [
        ("csrf_token", "t<k"),
        ("extra", "e"),
        ("login", "me@example.com"),
        ("password", "pw"),
        ("agree", "ok"),
        ("untyped", "u"),
    ]


def test_fill_entries_the_form_lacks_are_appended() -> None:
    (form,) = parse_page(LOGIN).forms
    assert form.submission({"otp": "123"})[-1] == ("otp", "123")


def test_approval_prefers_the_approve_button() -> None:
    first, second = parse_page(APPROVAL).forms
    assert not first.has_password
    assert first.submission({}, prefer="approve") == [
        ("req", "r1"),
        ("csrf_token", "c1"),
        ("approval", "approve"),
    ]
    # Without a preference, the first named submit button is pressed, like pressing Enter.
    assert first.submission({})[-1] == ("approval", "rejected")
    assert second.method == "get"
    assert second.submit_button() is None
    assert second.submission({}) == [("n", "v")]


def test_unclosed_form_and_page_without_forms() -> None:
    page = parse_page('<form action="/a"><input type="hidden" name="a" value="1">')
    assert len(page.forms) == 1
    assert page.forms[0].submission({}) == [("a", "1")]
    assert parse_page("<p>hello</p>").forms == ()


def test_a_new_form_closes_the_previous_one() -> None:
    page = parse_page('<form action="/a"><input name="a"><form action="/b"><input name="b">')
    assert [f.action for f in page.forms] == ["/a", "/b"]
    assert [c.name for c in page.forms[1].controls] == ["b"]
