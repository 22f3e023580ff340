"""LeanApiView: DRF's APIView for an endpoint on the serving hot path (predict), answered with less of DRF's request
cycle and the same contract.

Kept, by calling DRF's own methods: the Request (its JSON parser, within the body size and depth limits), the
authenticators (a token, or a session with its CSRF check), the permission (authenticated), the throttles, and
every error answer (the exception handler, so its shape, headers and status). Left out on success: content
negotiation and the renderer (a JSON body is what the operation answers; json.dumps with DRF's settings writes the
same bytes), version negotiation and DRF's default headers (Allow, Vary). The handler returns the body, not a
Response. Measured in bench/RESULTS.md ("A lean predict view"). The schema is drf-spectacular's, from the class as
for any view, since the class is an APIView.
"""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.views import APIView


class LeanApiView(APIView):
    """An APIView whose handlers (post, ...) return the answer's data, which is sent as JSON with status 200."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers      # finalize_response sets them on an error answer
        try:
            method = request.method.lower() if request.method else ""
            handler = getattr(self, method, None) if method in self.http_method_names else None
            if handler is None or method == "options":
                raise exceptions.MethodNotAllowed(request.method)
            self.perform_authentication(drf_request)
            self.check_permissions(drf_request)
            self.check_throttles(drf_request)
            return json_response(handler(drf_request, *args, **kwargs))
        except Exception as exc:
            # Errors take DRF's whole route (negotiated, rendered): the project's error shape, with its headers.
            response = self.handle_exception(exc)
            return self.finalize_response(drf_request, response, *args, **kwargs)


def json_response(data: Any, status: int = 200) -> HttpResponse:
    """`data` as DRF's JSONRenderer writes it with the project's settings (UNICODE_JSON, STRICT_JSON, COMPACT_JSON
    left at their defaults): UTF-8, compact, no NaN, U+2028 and U+2029 escaped for JavaScript's sake."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(text.encode(), status=status, content_type="application/json")
