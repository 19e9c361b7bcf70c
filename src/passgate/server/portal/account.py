"""``/account``: the signed-in person's own page. What it shows and every rule of what a
person may end or change live in :mod:`passgate.provider.account`; here the form is
read, the CSRF token checked (one purpose per action), and the answer is either a 303
back to ``/account`` with a short confirmation or the page again with the refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from passgate.oauth2.errors import OAuthError
from passgate.oauth2.params import Params
from passgate.provider.account import AccountError, LockedOutError, Owner
from passgate.provider.passwords import MIN_PASSWORD_LENGTH
from passgate.server.errors import NO_STORE, render_error
from passgate.server.flow import issuer_url, origin_of, render_page, services_of
from passgate.server.forms import form_params
from passgate.server.portal.home import PORTAL, Person, page_context, signed_in

__all__ = ["routes"]

END, END_OTHERS, PASSWORD = "account-end", "account-end-others", "account-password"
#: The confirmations a 303 back to the page may ask for (``?done=``): never free text.
DONE = {
    "ended": "The session was ended.",
    "already": "That session had ended already.",
    "others": "Every other session was ended; this browser stays signed in.",
    "password": "Your password was changed, and every other session was ended.",
}
#: Claims of the page's own token that say nothing about the person.
_TECHNICAL = frozenset({"iss", "aud", "exp", "iat", "azp", "at_hash", "c_hash", "nonce"})

Action = Callable[[Request, Owner, Params], Awaitable[str]]


def _sign_in(request: Request) -> Response:
    return RedirectResponse(
        issuer_url(services_of(request), "/signin", next="/account"),
        status_code=303,
        headers=NO_STORE,
    )


async def _who(request: Request) -> tuple[Person, Owner] | None:
    """The signed-in person and whose account it is (None: sign in first)."""
    person = await signed_in(request)
    if person is None:
        return None
    try:
        return person, Owner.of_token(person.token)
    except ValueError:  # a ``sub`` Passgate did not make: no account to show
        return None


async def page(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return _sign_in(request)
    notice = DONE.get(request.query_params.get("done", ""), "")
    return await _page(request, *who, notice=notice)


async def _page(
    request: Request,
    person: Person,
    owner: Owner,
    *,
    notice: str = "",
    error: AccountError | None = None,
) -> Response:
    services = services_of(request)
    overview = await services.account.overview(owner)
    context = page_context(request, person, "account")
    context.update(
        overview=overview,
        notice=notice,
        min_password_length=MIN_PASSWORD_LENGTH,
        error=error.message if error is not None else "",
        own_claims={k: v for k, v in person.token.claims.items() if k not in _TECHNICAL},
        forms={
            purpose: (issuer_url(services, path), PORTAL.csrf_token(request, purpose))
            for purpose, path in (
                (END, "/account/end"),
                (END_OTHERS, "/account/end-others"),
                (PASSWORD, "/account/password"),
            )
        },
    )
    headers = {}
    if isinstance(error, LockedOutError):
        headers["Retry-After"] = str(error.retry_after)  # RFC 6585 §4
    status = error.status if error is not None else 200
    return render_page(request, "portal/account.html", context, status=status, headers=headers)


async def _act(request: Request, purpose: str, action: Action) -> Response:
    """The one way every form of the page is handled."""
    who = await _who(request)
    if who is None:
        return _sign_in(request)
    try:
        form = await form_params(request, strict_type=False)
    except OAuthError as error:
        return render_error(request, 400, "Bad request", error.description or error.error)
    if not PORTAL.csrf_ok(request, form.optional("csrf_token"), purpose):
        return render_error(request, 403, "Form expired", "Please reload the page and retry.")
    try:
        done = await action(request, who[1], form)
    except AccountError as error:
        return await _page(request, *who, error=error)
    location = issuer_url(services_of(request), "/account", done=done)
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def _end(request: Request, owner: Owner, form: Params) -> str:
    ended = await services_of(request).account.end(owner, form.optional("session"))
    return "ended" if ended else "already"


async def _end_others(request: Request, owner: Owner, _form: Params) -> str:
    await services_of(request).account.end_others(owner)
    return "others"


async def _password(request: Request, owner: Owner, form: Params) -> str:
    await services_of(request).account.change_password(
        owner,
        current=form.optional("current_password"),
        new=form.optional("new_password"),
        repeated=form.optional("new_password_again"),
        address=origin_of(request).remote_addr,
    )
    return "password"


async def end(request: Request) -> Response:
    return await _act(request, END, _end)


async def end_others(request: Request) -> Response:
    return await _act(request, END_OTHERS, _end_others)


async def password(request: Request) -> Response:
    return await _act(request, PASSWORD, _password)


routes = [
    Route("/account", page, methods=["GET"], name="account"),
    Route("/account/end", end, methods=["POST"], name="account_end"),
    Route("/account/end-others", end_others, methods=["POST"], name="account_end_others"),
    Route("/account/password", password, methods=["POST"], name="account_password"),
]
