"""Data files -> examples: the formats, what each holds and takes, and guessing a file's format. The readers live
by family: `text` (CoNLL-U, CoNLL columns, parallel TSV, aligned files, plain text, JSONL), `tables` (CSV and TSV
with a header) and `numeric` (UCR, .ts, JSONL with "values", .npz); the example types in `examples`."""
from __future__ import annotations

import csv
import json
from collections.abc import Collection
from functools import partial
from pathlib import Path
from typing import Any

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats.examples import (
    ClassificationExample,
    Example,
    GenerationExample,
    TaggingExample,
    TranslationExample,
)
from rnnservice.ml.formats.numeric import MAX_FRAMES, SeriesExample, looks_like_ucr, read_npz, read_ts, read_ucr
from rnnservice.ml.formats.source import BOM, MAX_LINE_CHARS, Source, read_lines
from rnnservice.ml.formats.tables import TABLE_OPTIONS, read_table
from rnnservice.ml.formats.text import (
    UNTAGGED_ID,
    WORD_ID,
    read_aligned,
    read_columns,
    read_conllu,
    read_jsonl,
    read_parallel,
    read_text,
)
from rnnservice.ml.formats.timeseries import TIMESERIES_OPTIONS, TimeSeries, read_timeseries
from rnnservice.ml.tasks import TASKS

FORMATS = ("conllu", "columns", "csv", "tsv", "jsonl", "parallel", "ucr", "ts", "npz", "timeseries", "text")
# Always series; jsonl holds series when its first object has "values".
NUMERIC_FORMATS = ("ucr", "ts", "npz", "timeseries")
BINARY_FORMATS = ("npz",)                   # read by their own reader from the path, never as text lines
_TEXT_TASKS = tuple(task for task in TASKS if task != "forecasting")     # JSONL holds examples, not time steps
FORMAT_TASKS = {"conllu": ("tagging",), "columns": ("tagging",), "csv": ("classification", "translation", "generation"),
                "tsv": ("classification", "translation", "generation"), "jsonl": _TEXT_TASKS,
                "parallel": ("translation",), "ucr": ("classification",), "ts": ("classification",),
                "npz": ("classification", "tagging"), "timeseries": ("forecasting",), "text": ("generation",)}
FORMAT_OPTIONS = {"conllu": ("tag_field",), "columns": ("tag_column",), "csv": (), "tsv": (), "jsonl": (),
                  "parallel": (), "ucr": (), "ts": (), "npz": (), "timeseries": TIMESERIES_OPTIONS, "text": ()}
EXTENSIONS = {".conllu": "conllu", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
              ".txt": "columns", ".conll": "columns", ".iob": "columns", ".bio": "columns", ".ts": "ts", ".npz": "npz"}
_UCR_SUFFIXES = (".tsv", ".csv", ".txt")     # and files of unknown extension: tables whose every field is a number
AlignedPair = tuple[str, str]                # (source file, target file): translation as two aligned files

__all__ = ["BINARY_FORMATS", "FORMATS", "FORMAT_OPTIONS", "FORMAT_TASKS", "NUMERIC_FORMATS", "TABLE_OPTIONS",
           "ClassificationExample", "Example", "GenerationExample", "SeriesExample", "TaggingExample", "TimeSeries",
           "TranslationExample", "command_line_path", "format_choices", "guess_format", "input_kind", "read_examples"]


def read_examples(path: str | AlignedPair, *, task: str, format: str | None = None,
                  known_labels: Collection[str] | None = None, max_line_chars: int = MAX_LINE_CHARS,
                  max_frames: int = MAX_FRAMES, **options: Any) -> list[Example]:
    """Parse a data file (or a (source, target) pair of aligned translation files) into examples.

    `known_labels` (evaluation time) makes a label or tag the model never saw in training an error.
    `max_frames` caps the length of a numeric series.
    Raises FormatError(path, line, problem) for every problem; line 0 means the call, not the file.
    """
    aligned = _pair(path)
    path = str(path) if aligned is None else aligned[0]
    if task not in TASKS:
        raise FormatError(path, 0, f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if format is not None and format not in FORMATS:
        raise FormatError(path, 0, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if known_labels is not None and task == "translation":
        raise FormatError(path, 0, "known_labels is for tagging and classification; translation has no labels")
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1:
        raise FormatError(path, 0, f"max_frames must be a positive whole number, not {max_frames!r}")
    if aligned is not None and format not in (None, "parallel"):
        raise FormatError(path, 0, f"two aligned files are the format 'parallel', not {format!r}")
    fmt = "parallel" if aligned else format or guess_format(path, task=task)
    if task not in FORMAT_TASKS[fmt]:
        raise FormatError(path, 0, f"format {fmt!r} holds {' or '.join(FORMAT_TASKS[fmt])} data, not {task}")
    allowed = FORMAT_OPTIONS[fmt] + (TABLE_OPTIONS[task] if fmt in ("csv", "tsv") else ())
    for name in options:
        if name not in allowed:
            raise FormatError(path, 0, f"format {fmt!r} with task {task!r} does not take the option {name!r}; "
                                       f"it takes {', '.join(allowed) or 'no options'}")
    known = None if known_labels is None else frozenset(known_labels)
    if aligned:
        examples: list[Example] = read_aligned(*aligned, max_line_chars=max_line_chars)
    elif fmt in BINARY_FORMATS:
        examples = READERS[fmt](path, task, known=known, max_frames=max_frames, **options)
    else:
        source = Source(path, read_lines(path, max_line_chars), known, max_frames)
        examples = READERS[fmt](source, task, **options)
    if not examples:
        raise FormatError(path, 1, f"no examples: nothing in the file is a {task} example in {fmt} format")
    return examples


def guess_format(path: str | AlignedPair, *, task: str | None = None, input: str | None = None) -> str:
    """The format's name from the extension, else from the first lines; "parallel" for a pair of aligned files.

    A .tsv for translation is "parallel" when it has two columns and no source/target header. With `input`
    "values" (the file is for a model of numeric series), a table of numbers whose first field is a label name
    is "ucr" too; without it, only an all-number table is (a text table may well end in a number).
    """
    if _pair(path) is not None:
        return "parallel"
    if task == "forecasting":
        return "timeseries"                          # the one format that holds time steps
    path = str(path)
    suffix = Path(path).suffix.lower()
    by_extension = EXTENSIONS.get(suffix)
    if task == "generation" and by_extension not in ("csv", "tsv", "jsonl"):
        return "text"                       # a generator reads plain text: .txt (and any other) is one text a line
    if (by_extension is None or suffix in _UCR_SUFFIXES) and _holds_numbers_only(path, named_labels=input == "values"):
        return "ucr"
    if by_extension and not (by_extension == "tsv" and task == "translation"):
        return by_extension
    sample = _sample(path)
    first, cells = sample[0], sample[0].split("\t")
    if by_extension is None:
        if first.lstrip().startswith("{"):
            return "jsonl"
        if len(cells) == 10 and (WORD_ID.fullmatch(cells[0]) or UNTAGGED_ID.fullmatch(cells[0])):
            return "conllu"
        if first.startswith("-DOCSTART-") or (task == "tagging" and len(cells) > 1):
            return "columns"                            # tables hold no tagging data, tab-separated columns do
    if len(cells) > 1 or by_extension == "tsv":
        header = {cell.strip().lower() for cell in cells}
        is_pair = task == "translation" and len(cells) == 2 and not header & {"source", "target"}
        return "parallel" if is_pair else "tsv"
    try:
        comma_widths = {len(row) for row in csv.reader(sample)}
    except csv.Error:
        comma_widths = set()
    if all("," in line for line in sample) and len(comma_widths) == 1 and min(comma_widths) >= 2:
        return "csv"
    widths = {len(line.split()) for line in sample}
    if len(widths) == 1 and 2 <= min(widths) <= 10:
        return "columns"
    raise FormatError(path, 1, "cannot tell the format: the extension is not one we know and the first lines "
                               f"match none of the formats; use format= one of {', '.join(FORMATS)}")


def format_choices() -> list[tuple[str, str]]:
    """Django model field choices: a callable, so that a new format needs no migration."""
    return [(fmt, fmt) for fmt in FORMATS]


def input_kind(path: str | AlignedPair, *, task: str, format: str | None = None) -> str:
    """"values" for a file of numeric series (ucr, ts, npz, or JSONL whose first object has "values"), else
    "tokens"; read from the first object only, to pick model defaults before the file is read."""
    if format is not None and format not in FORMATS:
        raise FormatError(str(path), 0, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    fmt = "parallel" if _pair(path) is not None else format or guess_format(path, task=task)
    if fmt in NUMERIC_FORMATS:
        return "values"
    if fmt == "jsonl":
        return "values" if "values" in _first_json_object(str(path)) else "tokens"
    return "tokens"


def _holds_numbers_only(path: str, *, named_labels: bool = False) -> bool:
    """The sampled first lines are a UCR table: numbers only (but a label name first, with `named_labels`), no
    header. False when they cannot be read."""
    try:
        return looks_like_ucr(_sample(path), named_labels=named_labels)
    except FormatError:
        return False


def _first_json_object(path: str, limit: int = 1 << 22) -> dict:
    """The first non-blank line of a JSONL file as an object; {} when it is none (its reader says why)."""
    try:
        with open(path, "rb") as file:
            for raw in iter(lambda: file.readline(limit), b""):
                if raw.strip():
                    obj = json.loads(raw.removeprefix(BOM))
                    return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError, RecursionError):
        pass
    return {}


def _sample(path: str, size: int = 1 << 16) -> list[str]:
    """Up to 20 non-blank, non-comment lines from the start of the file, to guess its format from."""
    try:
        with open(path, "rb") as file:
            head = file.read(size).removeprefix(BOM)
    except OSError as exc:
        raise FormatError(path, 0, f"cannot read the file: {exc.strerror or exc}") from None
    lines = head.decode("utf-8", "replace").split("\n")
    if len(head) >= size - len(BOM) and len(lines) > 1:
        lines.pop()                                 # cut off by the read
    lines = [line.removesuffix("\r") for line in lines if line.strip()]
    if not lines:
        raise FormatError(path, 1, "the file is empty")
    sample = [line for line in lines if not line.startswith("#")][:20]
    if not sample:
        raise FormatError(path, 1, f"cannot tell the format: the first lines are all comments; "
                                   f"use format= one of {', '.join(FORMATS)}")
    return sample


def command_line_path(value: str) -> str | AlignedPair:
    """A command line's data path: a file, or "SOURCE,TARGET" for two aligned translation files (a file whose name
    has a comma is one file). The comma lives on command lines only; read_examples takes the pair."""
    if "," not in value or Path(value).exists():
        return value
    parts = [part.strip() for part in value.split(",")]
    if len(parts) != 2 or not all(parts):
        raise FormatError(value, 0, f"give two aligned files as SOURCE,TARGET, not {value!r}")
    return parts[0], parts[1]


def _pair(path: str | AlignedPair) -> AlignedPair | None:
    """The two paths of an aligned pair, or None for one file."""
    if isinstance(path, (tuple, list)):
        if len(path) != 2 or not all(path):
            raise FormatError(str(path), 0, "give two aligned files as (source, target)")
        return str(path[0]), str(path[1])
    return None


READERS = {"conllu": read_conllu, "columns": read_columns, "csv": partial(read_table, delimiter=","),
           "tsv": partial(read_table, delimiter="\t"), "jsonl": read_jsonl, "parallel": read_parallel,
           "ucr": read_ucr, "ts": read_ts, "npz": read_npz, "timeseries": read_timeseries, "text": read_text}
