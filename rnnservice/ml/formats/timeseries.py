"""Time series tables for forecasting: a CSV or TSV with a header, one row a time step, a time column and numeric
columns (ETTh1's layout: `date,HUFL,...,OT`), optionally several series told apart by an id column.

Rows must be in time order at one regular step: a gap, a duplicate or earlier time, an empty cell or a value that
is not a finite number is a FormatError naming the line and the column.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from rnnservice.ml.formats.numeric import SeriesExample

if TYPE_CHECKING:
    from rnnservice.ml.formats.source import Source

TIMESERIES_OPTIONS = ("time_column", "id_column")
MAX_ROWS = 2_000_000          # rows of one file; the upload size limit usually binds first
_PLAIN_NUMBER = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")


@dataclass(eq=False)
class TimeSeries(SeriesExample):
    """One series of a table: `values` (T, C) float32 in the file's column order, one row a time step."""

    columns: list[str] = field(default_factory=list)    # the numeric columns' names, C of them
    times: np.ndarray | None = None                     # (T,) datetime64[s]; None when the file has no time column
    lines: np.ndarray | None = None                     # (T,) the file line of each row
    id: str | None = None                               # the id column's value, for a file of several series

    def rows(self, start: int, end: int | None = None) -> TimeSeries:
        """Rows start..end-1 as a series of their own (views: no copy)."""
        part = slice(start, end)
        lines = None if self.lines is None else self.lines[part]
        return TimeSeries(self.values[part], columns=self.columns, id=self.id, lines=lines,
                          times=None if self.times is None else self.times[part],
                          line=int(lines[0]) if lines is not None and len(lines) else self.line)

    def line_of(self, row: int) -> int:
        """The file line of row `row` (0 when the series was not read from a file)."""
        return int(self.lines[row]) if self.lines is not None and 0 <= row < len(self.lines) else 0


def read_timeseries(src: Source, task: str, *, time_column: str | None = None,
                    id_column: str | None = None) -> list[TimeSeries]:
    """The series of a table: one, or one per value of the id column (in the order they first appear)."""
    rows = _rows(src)
    header_line, names = next(rows, (1, []))
    names = [name.strip() for name in names]
    time_at = _time_column(src, header_line, names, time_column)
    id_at = _named(src, header_line, names, id_column, "id_column") if id_column else \
        next((i for i, name in enumerate(names) if name.lower() == "id" and i != time_at), None)
    numeric = [i for i in range(len(names)) if i not in (time_at, id_at)]
    if not numeric:
        src.fail(header_line, f"no numeric columns: the header has {', '.join(map(repr, names))}, and a forecast "
                              "needs at least one column of values besides the time and id columns")
    empty = next((i for i in numeric if not names[i]), None)
    if empty is not None:
        src.fail(header_line, f"column {empty + 1} has no name in the header")
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    count = 0
    for number, cells in rows:
        if len(cells) != len(names):
            src.fail(number, f"ragged row: {len(cells)} columns, but the header has {len(names)}")
        count += 1
        if count > MAX_ROWS:
            src.fail(number, f"the file has more than {MAX_ROWS:,} rows, the limit")
        key = cells[id_at].strip() if id_at is not None else ""
        if id_at is not None and not key:
            src.fail(number, f"column {names[id_at]!r}: the series id is empty")
        groups.setdefault(key, []).append((number, cells))
    if not groups:
        src.fail(header_line, "the table has a header but no rows")
    return [_series(src, names, numeric, time_at, key if id_at is not None else None, group)
            for key, group in groups.items()]


def _rows(src: Source):
    """(line, cells) of each non-blank, non-comment row; tab-separated when the header has a tab, else CSV."""
    lines = [(number, line) for number, line in enumerate(src.lines, 1) if line.strip() and not line.startswith("#")]
    if not lines:
        src.fail(1, "the file is empty")
    if "\t" in lines[0][1]:
        yield from ((number, line.split("\t")) for number, line in lines)
        return
    for number, line in lines:                # a row a line: a time step holds no quoted line break
        try:
            yield number, next(csv.reader([line], strict=True))
        except csv.Error as exc:
            src.fail(number, f"bad CSV: {exc}")


def _named(src: Source, line: int, names: list[str], name: str, option: str) -> int:
    if name not in names:
        src.fail(line, f"missing column {name!r} ({option}); the header has {', '.join(map(repr, names))}")
    return names.index(name)


def _time_column(src: Source, line: int, names: list[str], given: str | None) -> int | None:
    """The column named by `time_column`, else the first column when its first value reads as a date."""
    if given:
        return _named(src, line, names, given, "time_column")
    first = next((cells for number, cells in _rows(src) if number > line), None)
    if first and not _PLAIN_NUMBER.fullmatch(first[0]) and _time(first[0]) is not None:
        return 0
    return None


def _time(text: str) -> np.datetime64 | None:
    try:
        return np.datetime64(datetime.fromisoformat(text.strip()).replace(tzinfo=None), "s")
    except ValueError:
        return None


def _series(src: Source, names: list[str], numeric: list[int], time_at: int | None, key: str | None,
            group: list[tuple[int, list[str]]]) -> TimeSeries:
    lines = np.array([number for number, _ in group], dtype=np.int64)
    values = np.empty((len(group), len(numeric)), dtype=np.float64)
    for j, column in enumerate(numeric):
        cells = [cells[column] for _, cells in group]
        try:
            values[:, j] = np.array(cells, dtype=np.float64)
        except ValueError:
            _bad_cell(src, names[column], group, cells)
    with np.errstate(over="ignore", invalid="ignore"):
        values32 = values.astype(np.float32)
    bad = ~np.isfinite(values32)
    if bad.any():
        row, j = (int(i) for i in np.argwhere(bad)[0])
        why = "too large for a 32-bit float" if np.isfinite(values[row, j]) else "not a finite number"
        src.fail(int(lines[row]), f"column {names[numeric[j]]!r}: {why} ({group[row][1][numeric[j]].strip()!r})")
    times = None if time_at is None else _times(src, names[time_at], [(n, c[time_at]) for n, c in group])
    return TimeSeries(values32, columns=[names[i] for i in numeric], times=times, lines=lines, id=key,
                      line=int(lines[0]))


def _bad_cell(src: Source, name: str, group: list[tuple[int, list[str]]], cells: list[str]) -> None:
    for (number, _), text in zip(group, cells, strict=True):
        if not text.strip():
            src.fail(number, f"column {name!r}: the value is empty; fill in the missing value")
        try:
            float(text)
        except ValueError:
            shown = repr(text.strip()) if len(text) < 40 else repr(text.strip()[:37]) + "..."
            src.fail(number, f"column {name!r}: {shown} is not a number")


def _times(src: Source, name: str, cells: list[tuple[int, str]]) -> np.ndarray:
    """(T,) datetime64[s], checked to be increasing at one step (the first two rows')."""
    times = np.empty(len(cells), dtype="datetime64[s]")
    for row, (number, text) in enumerate(cells):
        value = _time(text)
        if value is None:
            src.fail(number, f"column {name!r}: {text.strip()!r} is not a date or time (ISO 8601, e.g. "
                             "2016-07-01 00:00:00)")
        times[row] = value
    if len(times) < 2:
        return times
    steps = np.diff(times)
    step = steps[0]
    wrong = np.nonzero(steps != step)[0] if step > np.timedelta64(0, "s") else np.array([0])
    if len(wrong):
        row = int(wrong[0]) + 1
        (previous, _), (number, _) = cells[row - 1], cells[row]
        here, before = times[row], times[row - 1]
        if here == before:
            why = f"{here} again: the same time as line {previous}; each time may appear once"
        elif here < before:
            why = f"{here} comes after {before} (line {previous}): rows must be in time order"
        else:
            why = (f"a gap: {here} follows {before} (line {previous}), but the step is {_duration(step)}; "
                   "rows must come at one regular step (fill in the missing rows)")
        src.fail(number, f"column {name!r}: {why}")
    return times


def _duration(step: np.timedelta64) -> str:
    seconds = int(step / np.timedelta64(1, "s"))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} seconds"
