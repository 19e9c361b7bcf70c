"""GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0 (``end_session_endpoint``).

With a valid ``id_token_hint`` the session ends at once and the person goes to the
client's registered ``post_logout_redirect_uri`` (with ``state``), or sees a page saying
they signed out. Without one, a confirmation form (CSRF-bound to the browser) comes first.
The browser's single sign-on session ends with it, and its cookie is cleared.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.oauth2.errors import OAuthError
from passgate.provider.ids import mac, mac_matches
from passgate.provider.logout import LogoutRequest, check_logout, end_session
from passgate.server import csrf, session_cookie
from passgate.server.errors import NO_STORE, page_error, render_error
from passgate.server.flow import issuer_url, render_page, services_of
from passgate.server.forms import request_params
from passgate.server.net import client_address


def _parts(checked: LogoutRequest) -> tuple[str, str, str, str]:
    # The form token is keyed by the browser's own cookie: another site can neither read
    # it nor send it (SameSite=Lax) with a cross-site POST.
    return "logout", checked.client_id, checked.post_logout_redirect_uri, checked.state


async def logout(request: Request) -> Response:
    services = services_of(request)
    browser = csrf.browser_token(request)
    try:
        params = await request_params(request)
        checked = await check_logout(params, issuer=services.issuer, directory=services.directory)
    except OAuthError as error:
        return page_error(request, error)
    session = await services.sso.browser.resume(session_cookie.read(request, services.web))
    checked = checked.seen_from(session)
    context: dict[str, object] = {
        "client_name": checked.client_name,
        "signed_out": False,
    }
    confirmed = request.method == "POST" and params.optional("confirm") == "yes"
    if checked.hint is None and not confirmed:
        context |= {
            "action": issuer_url(services, "/logout"),
            "client_id": checked.client_id,
            "post_logout_redirect_uri": checked.post_logout_redirect_uri,
            "state": checked.state,
            "csrf_token": mac(browser[0].encode("ascii"), *_parts(checked)),
        }
        return render_page(request, "logout.html", context, browser=browser)
    if checked.hint is None and (
        browser[1]
        or not mac_matches(
            browser[0].encode("ascii"), params.optional("csrf_token"), *_parts(checked)
        )
    ):
        return render_error(request, 403, "Form expired", "Please go back and sign out again.")
    await end_session(
        checked,
        revoker=services.revoker,
        audit=services.audit,
        browser=session,
        remote_addr=client_address(request, services.web),
    )
    location = checked.redirect()
    response: Response
    if location:
        response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    else:
        context["signed_out"] = True
        response = render_page(request, "logout.html", context)
    if session is not None:
        session_cookie.clear(response, services.web)
    return response


routes = [Route("/logout", logout, methods=["GET", "POST"], name="logout")]
