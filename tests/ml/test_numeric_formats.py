"""Tests for rnnservice.ml.formats.numeric: UCR, .ts, JSONL series and .npz; one broken file per error; real files."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats import (
    MAX_FRAMES,
    SeriesExample,
    guess_format,
    input_kind,
    read_examples,
)

DATA = Path(__file__).parents[1] / "data"
SHARED = Path(__file__).parents[3] / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data sets are not beside the project")


def data(name: str) -> str:
    return str(DATA / name)


def fails(name: str, **kwargs) -> FormatError:
    with pytest.raises(FormatError) as info:
        read_examples(data(name), **kwargs)
    return info.value


def values(example: SeriesExample) -> list[list[float]]:
    assert example.values.dtype == np.float32 and example.values.ndim == 2
    return example.values.tolist()


# valid files, one format each

def test_it_reads_a_ucr_tsv_and_writes_numeric_labels_in_one_form():
    examples = read_examples(data("series_ucr.tsv"), task="classification")
    assert [example.label for example in examples] == ["1", "2", "1"]      # "1.0000000e+00" is "1"
    assert values(examples[0]) == [[-0.5], [0.25], [1.5], [2.0]]
    assert [len(example.values) for example in examples] == [4, 3, 5]      # unequal lengths are fine
    assert [example.line for example in examples] == [1, 2, 3]
    assert all(example.tags is None for example in examples)


def test_it_reads_ucr_files_separated_by_commas_or_spaces():
    commas = read_examples(data("series_ucr_commas.csv"), task="classification")
    assert [(example.label, values(example)) for example in commas] == [("1", [[0.5], [0.25]]),
                                                                         ("-1", [[np.float32(0.001).item()], [250.0]])]
    spaces = read_examples(data("series_ucr_spaces.txt"), task="classification")
    assert [example.label for example in spaces] == ["1", "2"]
    assert spaces[0].values[:, 0].tolist() == np.array([-0.11252183, -2.8272038], dtype=np.float32).tolist()


def test_it_keeps_text_labels_in_a_ucr_file(tmp_path):
    path = tmp_path / "series.txt"
    path.write_text("normal 1 2\nabnormal 3 4\n")
    assert [example.label for example in read_examples(str(path), task="classification", format="ucr")] == \
        ["normal", "abnormal"]


def test_it_reads_a_multivariate_ts_file_of_unequal_lengths():
    examples = read_examples(data("series_multi.ts"), task="classification")
    assert [example.label for example in examples] == ["up", "down", "up"]
    assert values(examples[0]) == [[1, 4], [2, 5], [3, 6]]                 # (T, F): channels become features
    assert values(examples[1]) == [[0.5, 100.0], [-0.5, np.float32(0.2).item()]]
    assert values(examples[2]) == [[7, 8]]
    assert [example.line for example in examples] == [11, 13, 14]


def test_it_reads_jsonl_series_for_classification_with_string_and_number_labels():
    examples = read_examples(data("series_classes.jsonl"), task="classification")
    assert [example.label for example in examples] == ["walk", "1", "2"]   # 2.0 is "2", as in UCR files
    assert values(examples[0]) == np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=np.float32).tolist()
    assert values(examples[2]) == [[-1.5, 2500.0], [0.0, 0.0]]
    assert [example.line for example in examples] == [1, 2, 4]


def test_it_reads_jsonl_series_for_tagging_from_flat_lists():
    examples = read_examples(data("series_tagging.jsonl"), task="tagging")
    assert [example.tags for example in examples] == [["rest", "beat", "rest"], ["0", "1"]]
    assert values(examples[1]) == [[5.0], [6.0]]
    assert all(example.label is None for example in examples)


def test_it_reads_an_npz_archive_and_drops_the_padding_past_lengths():
    examples = read_examples(data("series_classes.npz"), task="classification")
    assert [example.label for example in examples] == ["1", "2", "1"]
    assert [example.values.shape for example in examples] == [(4, 2), (2, 2), (1, 2)]
    assert values(examples[1]) == [[2.0, 2.25], [2.5, 2.75]]               # frames 2 and 3 are NaN padding
    assert [example.line for example in examples] == [1, 2, 3]


def test_it_reads_an_npz_archive_of_univariate_series_for_tagging():
    examples = read_examples(data("series_tagging.npz"), task="tagging")
    assert [example.tags for example in examples] == [["rest", "beat", "rest"], ["beat", "beat", "rest"]]
    assert values(examples[0]) == [[0.5], [1.0], [1.5]]


def test_it_accepts_series_labels_seen_in_training_and_refuses_others():
    assert len(read_examples(data("series_multi.ts"), task="classification", known_labels={"up", "down"})) == 3
    error = fails("series_classes.npz", task="classification", known_labels={"1"})
    assert error.line == 2 and "label '2' was never seen in training" in error.problem
    error = fails("series_tagging.jsonl", task="tagging", known_labels={"rest", "beat"})
    assert error.line == 2 and "label '0' was never seen in training" in error.problem


def test_it_takes_a_series_as_long_as_max_frames():
    assert MAX_FRAMES == 10_000
    assert len(read_examples(data("series_bad_long.tsv"), task="classification", max_frames=12)) == 1


# guessing the format and the input kind

@pytest.mark.parametrize(("name", "expected"), [
    ("series_ucr.tsv", "ucr"), ("series_ucr_commas.csv", "ucr"), ("series_ucr_spaces.txt", "ucr"),
    ("series_bad_nan.tsv", "ucr"), ("series_bad_missing.tsv", "ucr"), ("series_multi.ts", "ts"),
    ("series_classes.npz", "npz"), ("series_classes.jsonl", "jsonl"),
])
def test_it_guesses_the_numeric_formats(name, expected):
    assert guess_format(data(name), task="classification") == expected


def test_it_guesses_ucr_for_a_file_of_numbers_whatever_its_extension(tmp_path):
    path = tmp_path / "ECG5000_TRAIN"
    path.write_bytes((DATA / "series_ucr_spaces.txt").read_bytes())
    assert guess_format(str(path)) == "ucr"


def test_for_a_model_of_series_a_table_of_numbers_after_a_label_name_is_ucr(tmp_path):
    named = tmp_path / "waves.tsv"
    named.write_text("sine\t0.0\t0.5\t1.0\nsquare\t1.0\t1.0\t-1.0\n")
    text = tmp_path / "reviews.tsv"
    text.write_text("great fun\t1\ndull\t0\n")
    assert guess_format(str(named), task="classification", input="values") == "ucr"
    assert guess_format(str(named), task="classification") == "tsv"           # a label name: text, unless told
    assert guess_format(str(text), task="classification", input="values") == "tsv"


def test_it_still_guesses_a_table_with_a_header_or_a_text_column(tmp_path):
    header = tmp_path / "with_header.tsv"
    header.write_text("label\tv1\tv2\n1\t0.5\t0.25\n")
    text = tmp_path / "numbers_and_words.csv"
    text.write_text("text,label\n1 2 3,1\n")
    assert guess_format(str(header)) == "tsv" and guess_format(str(text)) == "csv"


@pytest.mark.parametrize(("name", "task", "kind"), [
    ("series_ucr.tsv", "classification", "values"), ("series_multi.ts", "classification", "values"),
    ("series_classes.npz", "classification", "values"), ("series_tagging.jsonl", "tagging", "values"),
    ("tiny_classification.jsonl", "classification", "tokens"), ("tiny_sst.tsv", "classification", "tokens"),
    ("tiny.conllu", "tagging", "tokens"), ("bad_json.jsonl", "classification", "tokens"),
])
def test_it_tells_the_input_kind_from_the_format_and_the_first_object(name, task, kind):
    assert input_kind(data(name), task=task) == kind


def test_it_tells_the_input_kind_of_a_named_format_and_of_aligned_files():
    assert input_kind(data("series_ucr_spaces.txt"), task="classification", format="ucr") == "values"
    assert input_kind((data("tiny.de"), data("tiny.en")), task="translation") == "tokens"
    with pytest.raises(FormatError, match="unknown format 'xml'"):
        input_kind(data("series_ucr.tsv"), task="classification", format="xml")


# broken files: one each

@pytest.mark.parametrize(("name", "kwargs", "line", "problem"), [
    ("series_bad_nan.tsv", {}, 2, "value 3: not a finite number (nan)"),
    ("series_bad_huge.csv", {"format": "ucr"}, 2, "value 2: too large for a 32-bit float (4e+38)"),
    ("series_bad_text.csv", {"format": "ucr"}, 2, "value 2: 'abc' is not a number"),
    ("series_bad_long.tsv", {"max_frames": 10}, 1, "the series has 12 frames; the limit is 10 (max_frames)"),
    ("series_bad_empty.tsv", {"format": "ucr"}, 1, "a label but no values: the series is empty"),
    ("series_bad_missing.tsv", {}, 1, "value 2: '?' marks a missing value"),
    ("series_bad_channels.ts", {}, 6, "3 features, but the first series of the file (line 5) has 2"),
    ("series_bad_dimensions.ts", {}, 7, "the case has 3 channels, but @dimensions is 2"),
    ("series_bad_text.ts", {}, 5, "channel 2, value 2: 'x' is not a number"),
    ("series_bad_no_label.ts", {}, 6, "missing label"),
    ("series_bad_no_labels.ts", {}, 4, "no labels: the header lacks '@classLabel true'"),
    ("series_bad_missing.ts", {}, 6, "channel 1, value 2: '?' marks a missing value"),
    ("series_bad_timestamps.ts", {}, 3, "@timeStamps true: series with time stamps are not supported"),
    ("series_bad_undeclared.ts", {}, 5, "label 'c' is not one of the @classLabel labels: a, b"),
    ("series_bad_ragged.ts", {}, 5, "channel 2 has 2 values, but channel 1 has 3"),
    ("series_bad_length.ts", {}, 8, "the series has 4 values, but @seriesLength is 3"),
    ("series_bad_empty.ts", {}, 5, "channel 1 is empty"),
    ("series_bad_no_data.ts", {}, 2, "no @data line"),
    ("series_bad_inf.jsonl", {}, 2, "values[1][0]: not a finite number (inf)"),
    ("series_bad_features.jsonl", {}, 3, "values[1]: 2 features, but the first series of the file (line 1) has 3"),
    ("series_bad_text.jsonl", {}, 1, "values[1]: a string is not a number"),
    ("series_bad_empty.jsonl", {}, 2, "the series is empty"),
    ("series_bad_no_label.jsonl", {}, 2, "missing key 'label'; the object has 'values'"),
    ("series_bad_tags.jsonl", {"task": "tagging"}, 2, "3 frames but 2 tags; each frame needs one tag"),
    ("series_bad_mix.jsonl", {}, 2, "this object has no 'values', but the first object (line 1) is a series"),
    ("series_bad_nan.npz", {}, 2, "X[1, 2, 0]: not a finite number (nan)"),
    ("series_bad_long.npz", {"max_frames": 10}, 1, "the series has 12 frames; the limit is 10 (max_frames)"),
    ("series_bad_label.npz", {}, 2, "y[1]: no label (nan)"),
    ("series_bad_lengths.npz", {}, 2, "lengths[1]: 0; a length must be 1 to 4"),
    ("series_bad_no_y.npz", {}, 1, "missing array 'y' (the labels, [N]); the archive has 'X', 'labels'"),
    ("series_bad_shape.npz", {}, 1, "X has shape [3]; it must be [N, T, F] or [N, T]"),
    ("series_bad_tags.npz", {"task": "tagging"}, 1, "y has shape [2]; for tagging it must be [2, 3]"),
    ("series_bad_object.npz", {}, 1, "y is an array of Python objects: reading it needs pickle, which is refused"),
    ("series_bad_npy.npz", {}, 1, "a single NumPy array, not an .npz archive"),
    ("series_bad_not_npz.npz", {}, 1, "not a NumPy .npz archive; save one with np.savez"),
])
def test_it_reports_a_broken_series_file_with_its_line(name, kwargs, line, problem):
    error = fails(name, **{"task": "classification", **kwargs})
    assert (error.path, error.line) == (data(name), line)
    assert problem in error.problem


@pytest.mark.parametrize(("content", "line", "problem"), [
    ("1 2\n3 x\n", 2, "value 1: 'x' is not a number"),
    ("1 2\n3 1_000\n", 2, "value 1: '1_000' is not a number"),          # Python's float() would take it
    ("1 2\n3 \u0661\n", 2, "value 1: '\u0661' is not a number"),         # and an Arabic-Indic digit
    ("1 2\n3 inf\n", 2, "value 1: not a finite number (inf)"),
    (",1,2\n", 1, "the label is empty"),
    ("NaN,1,2\n", 1, "missing label: the first field, 'NaN', is no class label"),
    ("1,2,,3\n", 1, "value 2: the value is empty"),
])
def test_it_accepts_only_plain_decimal_numbers_in_a_ucr_file(tmp_path, content, line, problem):
    path = tmp_path / "series.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError) as info:
        read_examples(str(path), task="classification", format="ucr")
    assert info.value.line == line and problem in info.value.problem


@pytest.mark.parametrize(("header", "case", "line", "problem"), [
    ("@classLabel true a", "1,2:a", 2, "a header line starts with @"),            # no @data before the case
    ("@colour blue\n@classLabel true a\n@data", "1:a", 1, "unknown header line @colour"),
    ("@targetLabel true\n@data", "1:2.5", 1, "regression targets are not supported"),
    ("@classLabel true\n@data", "1:a", 1, "@classLabel true needs the class labels"),
    ("@univariate true\n@classLabel true a\n@data", "1:2:a", 4, "the case has 2 channels, but @univariate is true"),
    ("@dimensions two\n@classLabel true a\n@data", "1:a", 1, "@dimensions takes a positive whole number"),
    ("@missing maybe\n@classLabel true a\n@data", "1:a", 1, "@missing takes true or false, not 'maybe'"),
    ("@equalLength true\n@classLabel true a\n@data", "1,2:a\n1:a", 5,
     "the series has 1 values, but @equalLength is true and the first series (line 4) has 2"),
    ("@classLabel true a\n@data", "1,2", 3, "missing label"),
])
def test_it_checks_the_ts_header_and_the_cases_against_it(tmp_path, header, case, line, problem):
    path = tmp_path / "series.ts"
    path.write_text(f"{header}\n{case}\n")
    with pytest.raises(FormatError) as info:
        read_examples(str(path), task="classification")
    assert info.value.line == line and problem in info.value.problem


@pytest.mark.parametrize(("obj", "problem"), [
    ({"values": "1 2 3", "label": "a"}, "'values' must be an array of frames"),
    ({"values": [[1, 2], 3], "label": "a"}, "values[1]: a frame must be an array of numbers like values[0]"),
    ({"values": [[1, 2], []], "label": "a"}, "values[1]: no values"),
    ({"values": [1, True], "label": "a"}, "values[1]: true or false is not a number"),
    ({"values": [1, None], "label": "a"}, "values[1]: null is not a number"),
    ({"values": [1, 10 ** 400], "label": "a"}, "values[1]: too large for a 32-bit float"),
    ({"values": [1, 2], "label": None}, "a label must be a string or a number, not null"),
    ({"values": [1, 2], "label": " "}, "the label is empty"),
    ({"values": [1, 2], "tags": "ab"}, "'tags' must be an array"),
])
def test_it_names_what_is_wrong_in_a_jsonl_series(tmp_path, obj, problem):
    path = tmp_path / "series.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    task = "tagging" if "tags" in obj else "classification"
    with pytest.raises(FormatError) as info:
        read_examples(str(path), task=task)
    assert info.value.line == 1 and problem in info.value.problem


def test_it_refuses_a_text_after_a_series_and_a_series_after_a_text(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"values": [1], "label": "b"}\n')
    with pytest.raises(FormatError) as info:
        read_examples(str(path), task="classification")
    assert info.value.line == 2 and "has 'values', but the first object (line 1) is a text example" in \
        info.value.problem


@pytest.mark.parametrize(("name", "kwargs", "problem"), [
    ("series_ucr.tsv", {"task": "tagging"}, "format 'ucr' holds classification data, not tagging"),
    ("series_multi.ts", {"task": "translation"}, "format 'ts' holds classification data, not translation"),
    ("series_classes.npz", {"task": "translation"}, "format 'npz' holds classification or tagging data"),
    ("series_ucr.tsv", {"task": "classification", "max_frames": 0}, "max_frames must be a positive whole number"),
    ("series_ucr.tsv", {"task": "classification", "delimiter": ","}, "does not take the option 'delimiter'"),
])
def test_it_refuses_bad_arguments_for_series(name, kwargs, problem):
    error = fails(name, **kwargs)
    assert error.line == 0 and problem in error.problem


def test_it_refuses_a_jsonl_series_for_translation():
    error = fails("series_classes.jsonl", task="translation")
    assert error.line == 1 and "holds classification or tagging data, not translation" in error.problem


def test_it_reads_an_npz_archive_as_bytes_not_as_text_lines():
    assert b"\x00" in (DATA / "series_classes.npz").read_bytes()
    assert len(read_examples(data("series_classes.npz"), task="classification", max_line_chars=1)) == 3


# round trips: random finite series written in each format read back equal

FINITE = st.floats(width=32, allow_nan=False, allow_infinity=False)
LABELS = st.sampled_from(["a", "b", "walk", "7"])


def random_series(features: st.SearchStrategy[int]) -> st.SearchStrategy[list[np.ndarray]]:
    """1 to 5 series of 1 to 12 frames, one feature count for all: (T, F) float32 each."""
    return features.flatmap(lambda f: st.lists(
        st.integers(1, 12).flatmap(lambda t: arrays(np.float32, (t, f), elements=FINITE)), min_size=1, max_size=5))


def number(value: np.float32) -> str:
    return repr(float(value))                      # float32 -> float64 is exact, and repr round-trips float64


def read_written(name: str, content: str | bytes, **kwargs) -> list[SeriesExample]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return read_examples(str(path), **kwargs)


def assert_same(examples: list[SeriesExample], series: list[np.ndarray]) -> None:
    assert len(examples) == len(series)
    for example, expected in zip(examples, series, strict=True):
        assert example.values.dtype == np.float32
        np.testing.assert_array_equal(example.values, expected)


@settings(max_examples=40, deadline=None)
@given(series=random_series(st.just(1)), labels=st.lists(st.integers(-3, 9), min_size=5, max_size=5),
       separator=st.sampled_from(["\t", ",", " ", ", "]))
def test_a_ucr_file_reads_back_what_was_written(series, labels, separator):
    lines = [separator.join([str(label), *map(number, s[:, 0])]) for s, label in zip(series, labels, strict=False)]
    examples = read_written("series.txt", "\n".join(lines) + "\n", task="classification")
    assert_same(examples, series)
    assert [example.label for example in examples] == [str(label) for label in labels[:len(series)]]


@settings(max_examples=40, deadline=None)
@given(series=random_series(st.integers(1, 4)), labels=st.lists(LABELS, min_size=5, max_size=5))
def test_a_ts_file_reads_back_what_was_written(series, labels):
    header = f"@problemName random\n@dimensions {series[0].shape[1]}\n@classLabel true a b walk 7\n@data\n"
    cases = [":".join([*(",".join(map(number, channel)) for channel in s.T), label])
             for s, label in zip(series, labels, strict=False)]
    examples = read_written("series.ts", header + "\n".join(cases), task="classification")
    assert_same(examples, series)
    assert [example.label for example in examples] == labels[:len(series)]


@settings(max_examples=40, deadline=None)
@given(series=random_series(st.integers(1, 4)), labels=st.lists(LABELS, min_size=5, max_size=5),
       task=st.sampled_from(["classification", "tagging"]), flat=st.booleans())
def test_a_jsonl_series_file_reads_back_what_was_written(series, labels, task, flat):
    lines = []
    for s, label in zip(series, labels, strict=False):
        frames = s[:, 0].tolist() if flat and s.shape[1] == 1 else s.tolist()
        lines.append(json.dumps({"values": frames, "label": label} if task == "classification" else
                                {"values": frames, "tags": [label] * len(s)}))
    examples = read_written("series.jsonl", "\n".join(lines), task=task)
    assert_same(examples, series)
    if task == "classification":
        assert [example.label for example in examples] == labels[:len(series)]
    else:
        assert [example.tags for example in examples] == [[label] * len(s) for s, label in zip(series, labels,
                                                                                                 strict=False)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=random_series(st.integers(1, 3)), labels=st.lists(LABELS, min_size=5, max_size=5),
       task=st.sampled_from(["classification", "tagging"]), univariate=st.booleans())
def test_an_npz_archive_reads_back_what_was_written(series, labels, task, univariate):
    count, frames = len(series), max(len(s) for s in series)
    x = np.full((count, frames, series[0].shape[1]), np.nan, dtype=np.float32)      # NaN padding past lengths
    for i, s in enumerate(series):
        x[i, :len(s)] = s
    y = np.array(labels[:count]) if task == "classification" else np.array([[labels[i]] * frames for i in range(count)])
    if univariate and x.shape[2] == 1:
        x = x[:, :, 0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "series.npz"
        np.savez(path, X=x, y=y, lengths=np.array([len(s) for s in series]))
        examples = read_examples(str(path), task=task)
    assert_same(examples, series)
    assert [example.line for example in examples] == list(range(1, count + 1))


# anything at all: a list or a FormatError, never another exception

def only_format_errors(name: str, content: str | bytes, **kwargs) -> None:
    try:
        assert isinstance(read_written(name, content, **kwargs), list)
    except FormatError as error:
        assert isinstance(error.line, int) and error.line >= 0


@settings(max_examples=80, deadline=None)
@given(content=st.one_of(st.binary(max_size=300), st.text(alphabet="0123456789.,:-+e?@# \t\n\rnaifNI{}[]\"",
                                                          max_size=300)),
       task=st.sampled_from(["classification", "tagging"]), format=st.sampled_from([None, "ucr", "ts", "jsonl", "npz"]))
def test_it_raises_only_format_errors_on_random_numeric_files(content, task, format):
    only_format_errors("random.dat", content, task=task, format=format)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(["series_multi.ts", "series_ucr.tsv", "series_classes.jsonl",
                                             "series_tagging.jsonl", "series_classes.npz", "series_tagging.npz"]))
def test_it_raises_only_format_errors_on_damaged_valid_files(data, name):
    content = bytearray((DATA / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(content) - 1))
        edit = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        byte = data.draw(st.sampled_from(list(b"0123456789.,:-e?@# \n\x00\xff{}[]\"")))
        if edit == "delete":
            del content[at]
        elif edit == "replace":
            content[at] = byte
        else:
            content.insert(at, byte)
    task = "tagging" if "tagging" in name else "classification"
    only_format_errors(name, bytes(content), task=task)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=12)


NUMBERISH = st.integers() | st.floats() | st.integers() | st.floats(width=32) | JSON
VALUES = JSON | st.lists(NUMBERISH, max_size=5) | st.lists(st.lists(NUMBERISH, max_size=3), max_size=4)


@settings(max_examples=80, deadline=None)
@given(objects=st.lists(st.fixed_dictionaries({"values": VALUES}, optional={"label": JSON, "tags": JSON}),
                        min_size=1, max_size=3),
       task=st.sampled_from(["classification", "tagging"]))
def test_it_raises_only_format_errors_on_random_json_series(objects, task):
    only_format_errors("random.jsonl", "\n".join(json.dumps(obj) for obj in objects), task=task)


# the real files in ../shared/datasets

@needs_shared
@pytest.mark.parametrize(("name", "count", "features", "labels"), [
    ("ecg5000/train.tsv", 500, 1, {"1", "2", "3", "4", "5"}),
    ("japanese-vowels/JapaneseVowels_TRAIN.ts", 270, 12, {str(n) for n in range(1, 10)}),
    ("basic-motions/BasicMotions_TRAIN.ts", 40, 6, {"Standing", "Running", "Walking", "Badminton"}),
])
def test_it_reads_the_real_series_files(name, count, features, labels):
    path = str(SHARED / name)
    assert input_kind(path, task="classification") == "values"
    examples = read_examples(path, task="classification")
    assert len(examples) == count
    assert {example.values.shape[1] for example in examples} == {features}
    assert {example.label for example in examples} == labels
    assert all(example.values.dtype == np.float32 and example.line > 0 for example in examples)


@needs_shared
def test_the_real_ts_files_and_their_jsonl_copies_read_the_same():
    for folder, name in (("japanese-vowels", "JapaneseVowels_TRAIN.ts"), ("basic-motions", "BasicMotions_TRAIN.ts")):
        from_ts = read_examples(str(SHARED / folder / name), task="classification")
        from_jsonl = read_examples(str(SHARED / folder / "train.jsonl"), task="classification")
        assert [example.label for example in from_ts] == [example.label for example in from_jsonl]
        for a, b in zip(from_ts, from_jsonl, strict=True):
            np.testing.assert_array_equal(a.values, b.values)
    lengths = [len(example.values) for example in read_examples(
        str(SHARED / "japanese-vowels" / "JapaneseVowels_TRAIN.ts"), task="classification")]
    assert (min(lengths), max(lengths), sum(lengths)) == (7, 26, 4274)      # as the data set's README states
