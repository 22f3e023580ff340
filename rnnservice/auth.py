"""The token endpoint: DRF's, with no authentication of its own and a rate per client address."""
from __future__ import annotations

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import MultiPartParser

from rnnservice.parsers import FormParser, JSONParser
from rnnservice.throttling import TokenRateThrottle


class TokenApi(ObtainAuthToken):
    """POST username and password, get {"token": ...}. A stale token or a session cookie sent along is ignored:
    neither may stand in the way of logging in (a bad token was a 401, a session without CSRF token a 403)."""

    authentication_classes = ()
    # DRF's view names its own parsers: these are the bounded ones (no login is needed to send a body here).
    parser_classes = (FormParser, MultiPartParser, JSONParser)
    throttle_classes = (TokenRateThrottle,)
