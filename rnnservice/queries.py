"""Queries on the prediction hot path, compiled by the ORM once and then run with new values.

Django compiles a queryset to SQL anew every time it runs: for the token lookup and the version choice behind each
prediction that took 0.26 and 0.5 ms, where the database answered in 0.02 (bench/RESULTS.md). A PreparedQuery
asks the ORM for the SQL of one queryset shape, built from placeholder values, and then runs that SQL with the
values of each call. The SQL still comes from the ORM, so the rules it encodes (who may see what) stay written
once, in the querysets.

    newest = PreparedQuery(lambda name: ModelVersion.objects.filter(model__name=name).order_by("-number")[:1],
                           ("pk", "number"), name=str)
    newest.rows(name="pos")              # [[3, 3]]

Only equality lookups on plain values may take a placeholder: the value must reach the SQL parameters as given
(not wrapped, as `contains` wraps it in %...%). The first call checks that each placeholder is found once.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet

_counter = itertools.count(1)


def _placeholder(kind: type) -> Any:
    """A value that the ORM passes to the SQL parameters as it is, and that no literal of the query equals. An int
    within any integer column's range: the ORM turns an int outside it into no query at all."""
    return 2_147_480_000 + next(_counter) if kind is int else f"\x00placeholder-{next(_counter)}\x00"


class PreparedQuery:
    """`build(**values)` returns a queryset; rows(**values) runs its SQL, compiled at the first call, with the
    values given, and returns the rows of `fields` (as values_list would, as lists) in the queryset's order.
    `kinds` names each placeholder's type: int or str."""

    def __init__(self, build: Callable[..., QuerySet], fields: Sequence[str], **kinds: type) -> None:
        for name, kind in kinds.items():
            if kind not in (int, str):
                raise TypeError(f"placeholder {name!r}: kind must be int or str, not {kind!r}")
        self.build, self.fields, self.kinds = build, tuple(fields), kinds
        self._compiled: tuple[str, str, list[Any], dict[str, int], list] | None = None

    @property
    def database(self) -> str:
        """The database alias the query runs on: what Model.from_db wants with a row."""
        return (self._compiled or self._compile())[0]

    def rows(self, **values: Any) -> list[list]:
        database, sql, params, slots, converters = self._compiled or self._compile()
        params = list(params)
        for name, index in slots.items():
            params[index] = values[name]
        connection = connections[database]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [list(row) for row in cursor.fetchall()]
        # The field converters the ORM would apply (SQLite's 0/1 to booleans, its text to datetimes...).
        for row in rows:
            for index, (functions, expression) in converters:
                for convert in functions:
                    row[index] = convert(row[index], expression, connection)
        return rows

    def _compile(self) -> tuple[str, str, list[Any], dict[str, int], list]:
        placeholders = {name: _placeholder(kind) for name, kind in self.kinds.items()}
        queryset = self.build(**placeholders).values_list(*self.fields)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = {}
        for name, value in placeholders.items():
            found = [i for i, param in enumerate(params) if param == value]
            if len(found) != 1:
                raise ValueError(f"placeholder {name!r} reaches the SQL parameters {len(found)} times, not once: "
                                 "give it only to one equality lookup")
            slots[name] = found[0]
        converters = compiler.get_converters([column[0] for column in compiler.select[:compiler.col_count]])
        self._compiled = (queryset.db, sql, list(params), slots, list(converters.items()))
        return self._compiled
