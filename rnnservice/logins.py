"""The token endpoint (DRF's, with no authentication of its own) and the admin's login, both limited to a rate of
password attempts per client address."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from rest_framework.authtoken.views import ObtainAuthToken

from rnnservice.parsers import FormParser, JSONParser
from rnnservice.throttling import RateLimited, TokenRateThrottle


class TokenApi(ObtainAuthToken):
    """Get your API token for a username and password: {"token": KEY}, sent as `Authorization: Bearer KEY`.
    JSON, as the schema says; a form (curl -d) is read too. A stale token or a session cookie sent along is
    ignored: neither may stand in the way of logging in (a bad token was a 401, a session without CSRF token a
    403)."""

    authentication_classes = ()
    # DRF's view names its own parsers: these are the bounded ones (no login is needed to send a body here).
    # JSON first: the schema declares the first one only.
    parser_classes = (JSONParser, FormParser)
    throttle_classes = (TokenRateThrottle,)


@never_cache
@csrf_protect
def admin_login(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """The admin's login page, whose password attempts (POSTs) count with the token endpoint's, per client address
    (RNNSERVICE_THROTTLE_TOKEN): the same guesses must not go faster through another door. Over the rate, a 429
    page with Retry-After that names the setting."""
    if request.method == "POST":
        try:
            TokenRateThrottle().allow_request(request, None)
        except RateLimited as exc:
            return HttpResponse(f"<!doctype html><title>Too many login attempts</title><h1>Too many login attempts</h1>"
                                f"<p>{escape(exc.detail)}</p>", status=429, headers={"Retry-After": str(exc.wait)})
    return admin.site.login(request, **kwargs)
