"""Token authentication for the API: DRF's, with the token's user read by a prepared query, kept a second in each
process (rnnservice/fresh.py)."""
from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from rest_framework import authentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from rnnservice.fresh import FreshCache
from rnnservice.queries import PreparedQuery

_recent = FreshCache()              # key -> the user's row, for SERVING_LOOKUP_SECONDS (rnnservice/fresh.py)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token KEY`, or `Bearer KEY` as OAuth's spelling goes (what the schema declares,
    and what generated clients send), with the token's user read by a prepared query (rnnservice/queries.py):
    it runs on every API request, and compiling DRF's lookup cost ten times more than running it."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, Token] | None:
        auth = authentication.get_authorization_header(request).split()
        if not auth or auth[0].lower() not in (b"token", b"bearer"):
            return None                                 # not ours: the session's, or none (a 401)
        if len(auth) != 2:
            raise AuthenticationFailed("Invalid token header: send `Authorization: Bearer KEY`.")
        try:
            key = auth[1].decode()
        except UnicodeError as exc:
            raise AuthenticationFailed("Invalid token header: a key is letters and digits.") from exc
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Token]:
        query = _token_user()
        rows = _recent.get(key, lambda: query.rows(key=key))
        if not rows:
            raise AuthenticationFailed("Invalid token.")
        user = get_user_model().from_db(query.database, list(query.fields), rows[0])
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return user, Token(key=key, user=user)


@functools.cache
def _token_user() -> PreparedQuery:
    """The user whose token is `key`: every column but the password hash, which an API request never needs."""
    user_model = get_user_model()
    fields = [field.attname for field in user_model._meta.concrete_fields if field.attname != "password"]
    return PreparedQuery(lambda key: user_model.objects.filter(auth_token__key=key), fields, key=str)
