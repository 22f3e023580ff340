"""Prepared queries (rnnservice/queries.py) and the two hot-path lookups built on them: the token's user
(rnnservice/authentication.py) and the version that answers a prediction (registry.selectors.version_to_serve).
Each is checked against what the ORM's own lookup answers."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from apps.registry.models import ModelVersion
from apps.registry.selectors import model_get_visible, version_resolve, version_to_serve
from apps.registry.services import alias_set
from rnnservice.authentication import TokenAuthentication
from rnnservice.queries import PreparedQuery

User = get_user_model()


def test_a_prepared_query_runs_the_orms_sql_with_each_calls_values(alice, bob, staff):
    query = PreparedQuery(lambda name, after: User.objects.filter(username=name, pk__gt=after).order_by("pk"),
                          ("pk", "username", "is_staff", "date_joined"), name=str, after=int)
    assert query.rows(name="alice", after=0) == [[alice.pk, "alice", False, alice.date_joined]]
    assert query.rows(name="sam", after=0) == [[staff.pk, "sam", True, staff.date_joined]]
    assert query.rows(name="sam", after=staff.pk) == []
    row = query.rows(name="bob", after=0)[0]
    assert row[2] is False and row[3] == bob.date_joined     # the ORM's converters ran (SQLite keeps 0 and text)


def test_a_prepared_query_compiles_once(alice, bob):
    built = []

    def build(name):
        built.append(name)
        return User.objects.filter(username=name)

    query = PreparedQuery(build, ("pk",), name=str)
    with CaptureQueriesContext(connection) as queries:
        assert query.rows(name="alice") == [[alice.pk]]
        assert query.rows(name="bob") == [[bob.pk]]
    assert len(built) == 1 and len(queries) == 2


@pytest.mark.django_db
def test_a_placeholder_that_does_not_reach_the_parameters_once_is_refused():
    with pytest.raises(TypeError, match="int or str"):
        PreparedQuery(lambda staff: User.objects.filter(is_staff=staff), ("pk",), staff=bool)
    unused = PreparedQuery(lambda name: User.objects.all(), ("pk",), name=str)
    with pytest.raises(ValueError, match="'name' reaches the SQL parameters 0 times"):
        unused.rows(name="alice")
    wrapped = PreparedQuery(lambda name: User.objects.filter(username__contains=name), ("pk",), name=str)
    with pytest.raises(ValueError, match="'name'"):                 # contains sends %name%: not the value given
        wrapped.rows(name="alice")


def test_a_token_authenticates_its_user_without_the_password_hash(alice):
    key = Token.objects.create(user=alice).key
    user, token = TokenAuthentication().authenticate_credentials(key)
    assert (user.pk, user.username, user.is_active, user.is_staff) == (alice.pk, "alice", True, False)
    assert token.key == key and token.user == user
    assert "password" in user.get_deferred_fields()


def test_an_unknown_token_or_an_inactive_user_is_refused(alice):
    key = Token.objects.create(user=alice).key
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        TokenAuthentication().authenticate_credentials("0" * 40)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed, match="inactive"):
        TokenAuthentication().authenticate_credentials(key)


def test_a_revoked_token_is_refused_at_once(api, alice):
    assert api.get("/api/models/").status_code == 200
    Token.objects.filter(user=alice).delete()
    assert api.get("/api/models/").status_code == 401


def _two_step(user, name, version=None, alias=None) -> ModelVersion:
    return version_resolve(model=model_get_visible(user=user, name=name), version=version, alias=alias)


def test_the_version_to_serve_is_the_one_the_two_step_lookup_chooses(make_version, alice, bob, staff):
    for _ in range(3):
        make_version(alice, name="pos", task="tagging")
    for _ in range(2):
        make_version(bob, name="pos-bob", task="tagging")
    models = [ModelVersion.objects.get(model__name=name, number=1).model for name in ("pos", "pos-bob")]
    cases = [{}, {"version": 2}, {"alias": "staging"}]
    for step in ("no alias", "aliases"):
        for user, name in ((alice, "pos"), (staff, "pos"), (staff, "pos-bob"), (bob, "pos-bob")):
            for case in cases:
                if step == "no alias" and "alias" in case:
                    continue
                served = version_to_serve(user=user, name=name, **case)
                expected = _two_step(user, name, **case)
                assert (served.pk, served.number, served.artifact_path, served.sha256) == \
                       (expected.pk, expected.number, expected.artifact_path, expected.sha256)
                assert (served.model.pk, served.model.name, served.model.task) == (expected.model.pk, name, "tagging")
                assert served.folder == expected.folder
        for model in models:
            alias_set(model=model, alias="production", version_number=1)
            alias_set(model=model, alias="staging", version_number=2)
    assert version_to_serve(user=alice, name="pos").number == 1          # production, not the newest
    alias_set(model=models[0], alias="production", version_number=3)
    assert version_to_serve(user=alice, name="pos").number == 3          # a promotion counts at the next request


def test_what_a_user_may_not_see_is_a_404_as_before(make_version, alice, bob):
    make_version(alice, name="pos", task="tagging")
    for user, kwargs, message in ((bob, {}, "no model named 'pos'"), (AnonymousUser(), {}, "no model named 'pos'"),
                                  (alice, {"version": 7}, "has no version 7"),
                                  (alice, {"version": 2**40}, "has no version"),
                                  (alice, {"alias": "nope"}, "has no alias 'nope'")):
        with pytest.raises(Http404, match=message):
            version_to_serve(user=user, name="pos", **kwargs)
    with pytest.raises(Http404, match="no model named 'none'"):
        version_to_serve(user=alice, name="none")
