"""Data-file parsers: CoNLL-U, CoNLL columns, CSV/TSV, JSONL, parallel TSV and aligned files -> examples;
the numeric series formats (UCR, .ts, JSONL with "values", .npz) are in `numeric`."""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats.labels import check_label
from rnnservice.ml.formats.numeric import (
    MAX_FRAMES,
    SeriesExample,
    SeriesFile,
    looks_like_ucr,
    read_json_series,
    read_npz,
    read_ts,
    read_ucr,
)
from rnnservice.ml.tasks import TASKS

FORMATS = ("conllu", "columns", "csv", "tsv", "jsonl", "parallel", "ucr", "ts", "npz")
NUMERIC_FORMATS = ("ucr", "ts", "npz")      # always series; jsonl holds series when its first object has "values"
BINARY_FORMATS = ("npz",)                   # read by their own reader from the path, never as text lines
MAX_LINE_CHARS = 100_000


@dataclass
class TaggingExample:
    tokens: list[str]
    tags: list[str]
    line: int = field(default=0, compare=False)    # 1-based line where the example starts; 0 = not from a file


@dataclass
class ClassificationExample:
    text: str                                # raw text; the model's tokenizer splits it
    label: str
    tokens: list[str] | None = None          # given when the file is pre-tokenized (JSONL "tokens")
    line: int = field(default=0, compare=False)


@dataclass
class TranslationExample:
    source: str
    target: str
    line: int = field(default=0, compare=False)


Example = TaggingExample | ClassificationExample | TranslationExample | SeriesExample

# What each format can hold, and the options it takes besides known_labels, max_line_chars and max_frames.
FORMAT_TASKS = {"conllu": ("tagging",), "columns": ("tagging",), "csv": ("classification", "translation"),
                "tsv": ("classification", "translation"), "jsonl": TASKS, "parallel": ("translation",),
                "ucr": ("classification",), "ts": ("classification",), "npz": ("classification", "tagging")}
TABLE_OPTIONS = {"classification": ("text_column", "label_column"), "translation": ("source_column", "target_column")}
FORMAT_OPTIONS = {"conllu": ("tag_field",), "columns": ("tag_column",), "csv": (), "tsv": (), "jsonl": (),
                  "parallel": (), "ucr": (), "ts": (), "npz": ()}
EXTENSIONS = {".conllu": "conllu", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
              ".txt": "columns", ".conll": "columns", ".iob": "columns", ".bio": "columns", ".ts": "ts", ".npz": "npz"}
_UCR_SUFFIXES = (".tsv", ".csv", ".txt")     # and files of unknown extension: tables whose every field is a number
CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}
_WORD_ID = re.compile(r"[0-9]+")                      # [0-9], not \d: int() would take Arabic-Indic digits too
_UNTAGGED_ID = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+")   # multiword token ranges and empty nodes
_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


def read_examples(path: str, *, task: str, format: str | None = None, known_labels: Collection[str] | None = None,
                  max_line_chars: int = MAX_LINE_CHARS, max_frames: int = MAX_FRAMES, **options: Any) -> list[Example]:
    """Parse a data file (or "src,tgt" for two aligned translation files) into examples.

    `known_labels` (evaluation time) makes a label or tag the model never saw in training an error.
    `max_frames` caps the length of a numeric series.
    Raises FormatError(path, line, problem) for every problem; line 0 means the call, not the file.
    """
    path = str(path)
    if task not in TASKS:
        raise FormatError(path, 0, f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if format is not None and format not in FORMATS:
        raise FormatError(path, 0, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if known_labels is not None and task == "translation":
        raise FormatError(path, 0, "known_labels is for tagging and classification; translation has no labels")
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1:
        raise FormatError(path, 0, f"max_frames must be a positive whole number, not {max_frames!r}")
    aligned = _aligned_paths(path) if format in (None, "parallel") else None
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
        examples: list[Example] = _read_aligned(*aligned, max_line_chars=max_line_chars)
    elif fmt in BINARY_FORMATS:
        examples = READERS[fmt](path, task, known=known, max_frames=max_frames, **options)
    else:
        source = _Source(path, _read_lines(path, max_line_chars), known, max_frames)
        examples = READERS[fmt](source, task, **options)
    if not examples:
        raise FormatError(path, 1, f"no examples: nothing in the file is a {task} example in {fmt} format")
    return examples


def guess_format(path: str, *, task: str | None = None) -> str:
    """The format's name from the extension, else from the first lines; "parallel" for "src,tgt" file pairs.

    A .tsv for translation is "parallel" when it has two columns and no source/target header.
    """
    path = str(path)
    if _aligned_paths(path):
        return "parallel"
    suffix = Path(path).suffix.lower()
    by_extension = EXTENSIONS.get(suffix)
    if (by_extension is None or suffix in _UCR_SUFFIXES) and _holds_numbers_only(path):
        return "ucr"
    if by_extension and not (by_extension == "tsv" and task == "translation"):
        return by_extension
    sample = _sample(path)
    first, cells = sample[0], sample[0].split("\t")
    if by_extension is None:
        if first.lstrip().startswith("{"):
            return "jsonl"
        if len(cells) == 10 and (_WORD_ID.fullmatch(cells[0]) or _UNTAGGED_ID.fullmatch(cells[0])):
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


def input_kind(path: str, *, task: str, format: str | None = None) -> str:
    """"values" for a file of numeric series (ucr, ts, npz, or JSONL whose first object has "values"), else
    "tokens"; read from the first object only, to pick model defaults before the file is read."""
    if format is not None and format not in FORMATS:
        raise FormatError(str(path), 0, f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    fmt = "parallel" if format in (None, "parallel") and _aligned_paths(str(path)) else \
        format or guess_format(path, task=task)
    if fmt in NUMERIC_FORMATS:
        return "values"
    if fmt == "jsonl":
        return "values" if "values" in _first_json_object(str(path)) else "tokens"
    return "tokens"


def _holds_numbers_only(path: str) -> bool:
    """The sampled first lines are a UCR table: numbers only, no header. False when they cannot be read."""
    try:
        return looks_like_ucr(_sample(path))
    except FormatError:
        return False


def _first_json_object(path: str, limit: int = 1 << 22) -> dict:
    """The first non-blank line of a JSONL file as an object; {} when it is none (its reader says why)."""
    try:
        with open(path, "rb") as file:
            for raw in iter(lambda: file.readline(limit), b""):
                if raw.strip():
                    obj = json.loads(raw.removeprefix(_BOM))
                    return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError, RecursionError):
        pass
    return {}


@dataclass
class _Source:
    """One file's lines, its path for errors, and the labels a trained model knows (None: any label goes)."""
    path: str
    lines: list[str]
    known: frozenset[str] | None = None
    max_frames: int = MAX_FRAMES           # the longest numeric series a reader of series takes

    def __post_init__(self) -> None:
        if not any(line.strip() for line in self.lines):
            self.fail(1, "the file is empty")

    def fail(self, line: int, problem: str) -> NoReturn:
        raise FormatError(self.path, line, problem)

    def label(self, line: int, value: str) -> str:
        return check_label(self.path, line, value, self.known)


def _read_lines(path: str, max_line_chars: int) -> list[str]:
    """The file's lines without line ends (\\n or \\r\\n); a BOM is dropped and bad UTF-8 is reported at its line."""
    try:
        data = Path(path).read_bytes().removeprefix(_BOM)
    except OSError as exc:
        raise FormatError(path, 0, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")            # one decode for the whole file; the line is found only on failure
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise FormatError(path, line, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at byte {column} of the line; "
                                      "save the file as UTF-8") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if len(line) > max_line_chars:
            raise FormatError(path, number, f"the line has {len(line):,} characters; the limit is "
                                            f"{max_line_chars:,} (max_line_chars)")
    return lines


def _sample(path: str, size: int = 1 << 16) -> list[str]:
    """Up to 20 non-blank, non-comment lines from the start of the file, to guess its format from."""
    try:
        with open(path, "rb") as file:
            head = file.read(size).removeprefix(_BOM)
    except OSError as exc:
        raise FormatError(path, 0, f"cannot read the file: {exc.strerror or exc}") from None
    lines = head.decode("utf-8", "replace").split("\n")
    if len(head) >= size - len(_BOM) and len(lines) > 1:
        lines.pop()                                 # cut off by the read
    lines = [line.removesuffix("\r") for line in lines if line.strip()]
    if not lines:
        raise FormatError(path, 1, "the file is empty")
    sample = [line for line in lines if not line.startswith("#")][:20]
    if not sample:
        raise FormatError(path, 1, f"cannot tell the format: the first lines are all comments; "
                                   f"use format= one of {', '.join(FORMATS)}")
    return sample


def _aligned_paths(path: str) -> tuple[str, str] | None:
    """("a.de", "a.en") for "a.de,a.en"; None for a path without a comma or a file whose name has one."""
    if "," not in path or Path(path).exists():
        return None
    parts = [part.strip() for part in path.split(",")]
    if len(parts) != 2 or not all(parts):
        raise FormatError(path, 0, "give two aligned files as 'source,target'")
    for part in parts:
        if not Path(part).is_file():
            raise FormatError(part, 0, f"no such file (one of the aligned pair {path!r})")
    return parts[0], parts[1]


def _read_aligned(source_path: str, target_path: str, *, max_line_chars: int) -> list[Example]:
    sources, targets = _read_lines(source_path, max_line_chars), _read_lines(target_path, max_line_chars)
    for lines in (sources, targets):
        while lines and not lines[-1].strip():     # blank lines at the end are no sentence pairs
            lines.pop()
    if len(sources) != len(targets):
        longer, shorter = (source_path, targets) if len(sources) > len(targets) else (target_path, sources)
        raise FormatError(longer, len(shorter) + 1, f"{source_path} has {len(sources)} lines but {target_path} has "
                                                    f"{len(targets)}; aligned files need one sentence a line in both")
    if not sources:
        raise FormatError(source_path, 1, "the file is empty")
    examples: list[Example] = []
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), 1):
        if not source.strip() and not target.strip():
            continue
        for side, text in ((source_path, source), (target_path, target)):
            if not text.strip():
                raise FormatError(side, number, "the sentence is empty but its partner is not")
        examples.append(TranslationExample(source.strip(), target.strip(), line=number))
    return examples


def _read_conllu(src: _Source, task: str, *, tag_field: str = "upos") -> list[Example]:
    if tag_field not in CONLLU_TAG_COLUMNS:
        src.fail(0, f"tag_field must be one of {', '.join(CONLLU_TAG_COLUMNS)}, not {tag_field!r}")

    def token_and_tag(number: int, line: str) -> tuple[str, str] | None:
        if line.startswith("#"):
            return None
        cells = line.split("\t")
        if len(cells) != 10:
            src.fail(number, f"a token line needs 10 tab-separated columns, this one has {len(cells)}")
        if _UNTAGGED_ID.fullmatch(cells[0]):
            return None
        if not _WORD_ID.fullmatch(cells[0]):
            src.fail(number, f"the ID {cells[0]!r} is not a number, a range like 1-2 or an empty node like 8.1")
        if not cells[1]:
            src.fail(number, "the FORM column is empty")
        return cells[1], cells[CONLLU_TAG_COLUMNS[tag_field]]
    return _read_sentences(src, token_and_tag)


def _read_columns(src: _Source, task: str, *, tag_column: int = -1) -> list[Example]:
    if not isinstance(tag_column, int) or isinstance(tag_column, bool):
        src.fail(0, f"tag_column must be a column number, not {tag_column!r}")
    first_row: list[int] = []                       # [line, width] of the first row; the others must match

    def token_and_tag(number: int, line: str) -> tuple[str, str] | None:
        if line.startswith("-DOCSTART-"):
            return None
        cells = line.split()
        if not first_row:
            first_row[:] = number, len(cells)
            if len(cells) < 2:
                src.fail(number, "a row needs a token and a tag separated by whitespace; this one has 1 column")
            if not -len(cells) <= tag_column < len(cells) or tag_column % len(cells) == 0:
                src.fail(number, f"tag_column {tag_column} is no tag column: the rows have {len(cells)} columns "
                                 "and column 0 is the token")
        elif len(cells) != first_row[1]:
            src.fail(number, f"ragged row: {len(cells)} columns, but the first row (line {first_row[0]}) "
                             f"has {first_row[1]}")
        return cells[0], cells[tag_column]
    return _read_sentences(src, token_and_tag)


def _read_sentences(src: _Source, token_and_tag: Callable[[int, str], tuple[str, str] | None]) -> list[Example]:
    """One token a line and a blank line after each sentence; the last sentence may lack its blank line."""
    examples: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    for number, line in enumerate([*src.lines, ""], 1):
        if not line.strip():
            if tokens:
                examples.append(TaggingExample(tokens, tags, line=start))
                tokens, tags = [], []
        elif pair := token_and_tag(number, line):
            start = start if tokens else number
            tokens.append(pair[0])
            tags.append(src.label(number, pair[1]))
    return examples


def _read_table(src: _Source, task: str, *, delimiter: str, **columns: str) -> list[Example]:
    rows = _table_rows(src, delimiter)
    header_line, header = next(rows, (1, [""]))
    names = [name.strip() for name in header]
    if len(names) < 2:
        src.fail(header_line, f"the header needs at least 2 columns, it has {len(names)}: {names[0]!r}")
    first, second = _pick_columns(src, header_line, names, task, columns)
    examples: list[Example] = []
    for number, cells in rows:
        if len(cells) != len(names):
            src.fail(number, f"ragged row: {len(cells)} columns, but the header has {len(names)}")
        text, other = cells[first].strip(), cells[second].strip()
        if not text:
            src.fail(number, f"the text in column {names[first]!r} is empty")
        if task == "classification":
            examples.append(ClassificationExample(text, src.label(number, other), line=number))
        elif not other:
            src.fail(number, f"the text in column {names[second]!r} is empty")
        else:
            examples.append(TranslationExample(text, other, line=number))
    _check_header(src, header_line, names, names[second] if task == "classification" else None, examples)
    return examples


def _check_header(src: _Source, line: int, names: list[str], label_name: str | None, examples: list[Example]) -> None:
    """A file without a header would lose its first example as the header, in silence: refuse a header that reads
    as data, all of it numbers, or (classification) with one of the labels where the label column's name is."""
    numbers = all(_NUMBER.fullmatch(name) for name in names)
    if numbers or label_name is not None and label_name in {ex.label for ex in examples}:
        why = "all its cells are numbers" if numbers else f"its label column's name {label_name!r} is a label"
        src.fail(line, f"the first line is read as the header, which names the columns, but it looks like data "
                       f"({why}); add a header line, e.g. 'text' and 'label' (or 'source' and 'target')")


_NUMBER = re.compile(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*")


def _table_rows(src: _Source, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(start line, cells) of each non-blank row. TSV is split on tabs with no quoting, as GLUE writes it."""
    if delimiter == "\t":
        yield from ((number, line.split("\t")) for number, line in enumerate(src.lines, 1) if line.strip())
        return
    reader = csv.reader(line + "\n" for line in src.lines)     # the line end keeps newlines in quoted cells
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num        # a quoted cell may span lines
            if len(cells) > 1 or (cells and cells[0].strip()):
                yield start, cells
    except csv.Error as exc:
        src.fail(reader.line_num, f"bad CSV: {exc}")


def _pick_columns(src: _Source, line: int, names: list[str], task: str, given: dict[str, str]) -> tuple[int, int]:
    """Columns named by the options, else the usual names (text/sentence, label, source, target), else first, last."""
    options = TABLE_OPTIONS[task]
    usual = (("text", "sentence"), ("label",)) if task == "classification" else (("source",), ("target",))
    lowered = [name.lower() for name in names]
    picked: list[int | None] = []
    for option, usual_names in zip(options, usual, strict=True):
        name = given.get(option)
        if name is None:
            picked.append(next((lowered.index(u) for u in usual_names if u in lowered), None))
        elif name not in names:
            src.fail(line, f"missing column {name!r} ({option}); the header has {', '.join(map(repr, names))}")
        else:
            picked.append(names.index(name))
    first, second = picked
    second = max(i for i in range(len(names)) if i != first) if second is None else second
    first = min(i for i in range(len(names)) if i != second) if first is None else first
    if first == second:
        src.fail(line, f"{options[0]} and {options[1]} both pick the column {names[first]!r}")
    return first, second


def _read_parallel(src: _Source, task: str) -> list[Example]:
    examples: list[Example] = []
    for number, line in enumerate(src.lines, 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            src.fail(number, f"a line needs source<TAB>target, this one has {len(cells)} tab-separated columns")
        source, target = cells[0].strip(), cells[1].strip()
        if not source or not target:
            src.fail(number, f"the {'source' if not source else 'target'} is empty")
        examples.append(TranslationExample(source, target, line=number))
    return examples


def _read_jsonl(src: _Source, task: str) -> list[Example]:
    """Texts, or numeric series when the first object has "values" (then all must; a mix is an error)."""
    examples: list[Example] = []
    first, series = 0, None
    for number, line in enumerate(src.lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            src.fail(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
        except (ValueError, RecursionError) as exc:     # a 5,000-digit number, [[[[... nested too deep
            src.fail(number, f"invalid JSON: {exc or 'nested too deeply'}")
        if not isinstance(obj, dict):
            src.fail(number, f"expected a JSON object, got {_JSON_TYPES.get(type(obj), 'something else')}")
        if not first:
            first, series = number, SeriesFile(src.path, src.known, src.max_frames) if "values" in obj else None
        elif ("values" in obj) != (series is not None):
            kinds = ("has no 'values'", "a series") if series else ("has 'values'", "a text example")
            src.fail(number, f"this object {kinds[0]}, but the first object (line {first}) is {kinds[1]}; "
                             "a file holds numeric series or texts, not both")
        examples.append(read_json_series(series, task, number, obj) if series else
                        _JSON_READERS[task](src, number, obj))
    return examples


def _json_tagging(src: _Source, number: int, obj: dict) -> Example:
    tokens, tags = _json_strings(src, number, obj, "tokens"), _json_get(src, number, obj, "tags", list)
    if len(tokens) != len(tags):
        src.fail(number, f"{len(tokens)} tokens but {len(tags)} tags; each token needs one tag")
    return TaggingExample(tokens, [_json_label(src, number, tag) for tag in tags], line=number)


def _json_classification(src: _Source, number: int, obj: dict) -> Example:
    tokens = None
    if "text" in obj or "tokens" not in obj:
        text = _json_get(src, number, obj, "text", str).strip()
        if not text:
            src.fail(number, "the text is empty")
    else:
        tokens = _json_strings(src, number, obj, "tokens")
        text = " ".join(tokens)
    return ClassificationExample(text, _json_label(src, number, _json_get(src, number, obj, "label", object)),
                                 tokens, line=number)


def _json_translation(src: _Source, number: int, obj: dict) -> Example:
    source, target = (_json_get(src, number, obj, key, str).strip() for key in ("source", "target"))
    if not source or not target:
        src.fail(number, f"the {'source' if not source else 'target'} is empty")
    return TranslationExample(source, target, line=number)


def _json_get(src: _Source, number: int, obj: dict, key: str, kind: type) -> Any:
    if key not in obj:
        src.fail(number, f"missing key {key!r}; the object has {', '.join(map(repr, obj)) or 'no keys'}")
    if not isinstance(obj[key], kind):
        src.fail(number, f"{key!r} must be {_JSON_TYPES[kind]}, not {_JSON_TYPES.get(type(obj[key]))}")
    return obj[key]


def _json_strings(src: _Source, number: int, obj: dict, key: str) -> list[str]:
    values = _json_get(src, number, obj, key, list)
    if not values:
        src.fail(number, f"{key!r} is empty")
    if not all(isinstance(value, str) and value for value in values):
        src.fail(number, f"every item of {key!r} must be a non-empty string")
    return values


def _json_label(src: _Source, number: int, value: Any) -> str:
    """Labels and tags may be strings or integers (SST-2's 0 and 1); both are kept as strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        src.fail(number, f"a label must be a string or an integer, not {_JSON_TYPES.get(type(value))}")
    return src.label(number, str(value).strip())


_JSON_READERS = {"tagging": _json_tagging, "classification": _json_classification, "translation": _json_translation}
READERS = {"conllu": _read_conllu, "columns": _read_columns, "csv": partial(_read_table, delimiter=","),
           "tsv": partial(_read_table, delimiter="\t"), "jsonl": _read_jsonl, "parallel": _read_parallel,
           "ucr": read_ucr, "ts": read_ts, "npz": read_npz}
