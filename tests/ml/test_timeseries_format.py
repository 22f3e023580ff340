"""Tests for formats/timeseries.py: tables of time steps for forecasting, and the errors at their line and column."""
from __future__ import annotations

import numpy as np
import pytest

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats import guess_format, input_kind, read_examples
from rnnservice.ml.formats.timeseries import TimeSeries


def table(tmp_path, text: str, name: str = "series.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def read(path: str, **options) -> list[TimeSeries]:
    return read_examples(path, task="forecasting", **options)


HOURLY = "date,load,temp\n2016-07-01 00:00:00,5.8,30.5\n2016-07-01 01:00:00,5.6,27.7\n2016-07-01 02:00:00,5.1,27.7\n"


def test_a_table_is_one_series_with_its_times_columns_and_lines(tmp_path):
    (series,) = read(table(tmp_path, HOURLY))
    assert series.columns == ["load", "temp"]
    assert series.values.dtype == np.float32 and series.values.shape == (3, 2)
    assert series.values[2].tolist() == pytest.approx([5.1, 27.7])
    assert str(series.times[1]) == "2016-07-01T01:00:00"
    assert series.lines.tolist() == [2, 3, 4] and series.line == 2
    part = series.rows(1, 3)
    assert part.values.base is not None and part.line == 3 and part.line_of(1) == 4


def test_forecasting_guesses_the_timeseries_format_and_values_input(tmp_path):
    path = table(tmp_path, HOURLY)
    assert guess_format(path, task="forecasting") == "timeseries"
    assert input_kind(path, task="forecasting") == "values"


def test_tab_separated_and_without_a_time_column(tmp_path):
    (series,) = read(table(tmp_path, "a\tb\n1\t2\n3\t4\n", "series.tsv"))
    assert series.columns == ["a", "b"] and series.times is None


def test_an_id_column_holds_several_series(tmp_path):
    text = "date,id,v\n2020-01-01,a,1\n2020-01-01,b,10\n2020-01-02,a,2\n2020-01-02,b,20\n2020-01-03,a,3\n"
    a, b = read(table(tmp_path, text))
    assert (a.id, b.id) == ("a", "b")
    assert a.values[:, 0].tolist() == [1, 2, 3] and b.values[:, 0].tolist() == [10, 20]
    assert b.lines.tolist() == [3, 5]


@pytest.mark.parametrize(("text", "line", "words"), [
    ("date,v\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 03:00,3\n", 4, "a gap"),
    ("date,v\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 01:00,3\n", 4, "the same time as line 3"),
    ("date,v\n2020-01-01 02:00,1\n2020-01-01 01:00,2\n", 3, "in time order"),
    ("date,v\n2020-01-01,1\n2020-01-02,x\n", 3, "column 'v': 'x' is not a number"),
    ("date,v\n2020-01-01,1\n2020-01-02,\n", 3, "column 'v': the value is empty"),
    ("date,v\n2020-01-01,1\n2020-01-02,nan\n", 3, "column 'v': not a finite number"),
    ("date,v\n2020-01-01,1\n2020-01-02,1e39\n", 3, "too large for a 32-bit float"),
    ("date,v\n2020-01-01,1\nyesterday,2\n", 3, "column 'date': 'yesterday' is not a date"),
    ("date,v\n2020-01-01,1\n2020-01-02,2,3\n", 3, "ragged row"),
    ("date\n2020-01-01\n", 1, "no numeric columns"),
    ("date,v\n", 1, "no rows"),
])
def test_errors_name_the_line_and_column(tmp_path, text, line, words):
    with pytest.raises(FormatError) as caught:
        read(table(tmp_path, text))
    assert caught.value.line == line and words in caught.value.problem


def test_named_time_and_id_columns(tmp_path):
    text = "v,when,station\n1,2020-01-01,x\n2,2020-01-02,x\n"
    (series,) = read(table(tmp_path, text), time_column="when", id_column="station")
    assert series.columns == ["v"] and series.id == "x"
    with pytest.raises(FormatError, match="missing column 'time' \\(time_column\\)"):
        read(table(tmp_path, text), time_column="time")


def test_other_tasks_do_not_read_timeseries(tmp_path):
    with pytest.raises(FormatError, match="holds forecasting data, not classification"):
        read_examples(table(tmp_path, HOURLY), task="classification", format="timeseries")


def test_a_quoted_header_and_an_open_quote_in_a_row(tmp_path):
    (series,) = read(table(tmp_path, '"date","load, MW"\n2020-01-01,1\n2020-01-02,2\n'))
    assert series.columns == ["load, MW"]
    with pytest.raises(FormatError) as caught:
        read(table(tmp_path, 'date,v\n2020-01-01,"1\n2020-01-02,2\n'))
    assert caught.value.line == 2
