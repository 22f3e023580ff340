"""The readers of text: CoNLL-U, CoNLL columns, parallel TSV, two aligned files, and JSONL (texts, or numeric
series when its objects have "values")."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats.examples import ClassificationExample, Example, TaggingExample, TranslationExample
from rnnservice.ml.formats.numeric import SeriesFile, read_json_series
from rnnservice.ml.formats.source import Source, count_columns, read_lines

CONLLU_TAG_COLUMNS = {"upos": 3, "xpos": 4}


WORD_ID = re.compile(r"[0-9]+")                      # [0-9], not \d: int() would take Arabic-Indic digits too


UNTAGGED_ID = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+")   # multiword token ranges and empty nodes


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


def read_aligned(source_path: str, target_path: str, *, max_line_chars: int) -> list[Example]:
    sources, targets = read_lines(source_path, max_line_chars), read_lines(target_path, max_line_chars)
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


def read_conllu(src: Source, task: str, *, tag_field: str = "upos") -> list[Example]:
    if tag_field not in CONLLU_TAG_COLUMNS:
        src.fail(0, f"tag_field must be one of {', '.join(CONLLU_TAG_COLUMNS)}, not {tag_field!r}")

    def token_and_tag(number: int, line: str) -> tuple[str, str] | None:
        if line.startswith("#"):
            return None
        cells = line.split("\t")
        if len(cells) != 10:
            src.fail(number, f"a token line needs 10 tab-separated columns, this one has {len(cells)}")
        if UNTAGGED_ID.fullmatch(cells[0]):
            return None
        if not WORD_ID.fullmatch(cells[0]):
            src.fail(number, f"the ID {cells[0]!r} is not a number, a range like 1-2 or an empty node like 8.1")
        if not cells[1]:
            src.fail(number, "the FORM column is empty")
        return cells[1], cells[CONLLU_TAG_COLUMNS[tag_field]]
    return _read_sentences(src, token_and_tag)


def read_columns(src: Source, task: str, *, tag_column: int = -1) -> list[Example]:
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
                src.fail(number, f"tag_column {tag_column} is no tag column: the rows have {count_columns(len(cells))} "
                                 "and column 0 is the token")
        elif len(cells) != first_row[1]:
            src.fail(number, f"ragged row: {count_columns(len(cells))}, but the first row (line {first_row[0]}) "
                             f"has {first_row[1]}")
        return cells[0], cells[tag_column]
    return _read_sentences(src, token_and_tag)


def _read_sentences(src: Source, token_and_tag: Callable[[int, str], tuple[str, str] | None]) -> list[Example]:
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


def read_parallel(src: Source, task: str) -> list[Example]:
    examples: list[Example] = []
    for number, line in enumerate(src.lines, 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            found = count_columns(len(cells), "tab-separated ")
            src.fail(number, f"a line needs source<TAB>target, this one has {found}")
        source, target = cells[0].strip(), cells[1].strip()
        if not source or not target:
            src.fail(number, f"the {'source' if not source else 'target'} is empty")
        examples.append(TranslationExample(source, target, line=number))
    return examples


def read_jsonl(src: Source, task: str) -> list[Example]:
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


def _json_tagging(src: Source, number: int, obj: dict) -> Example:
    tokens, tags = _json_strings(src, number, obj, "tokens"), _json_get(src, number, obj, "tags", list)
    if len(tokens) != len(tags):
        src.fail(number, f"{len(tokens)} tokens but {len(tags)} tags; each token needs one tag")
    return TaggingExample(tokens, [_json_label(src, number, tag) for tag in tags], line=number)


def _json_classification(src: Source, number: int, obj: dict) -> Example:
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


def _json_translation(src: Source, number: int, obj: dict) -> Example:
    source, target = (_json_get(src, number, obj, key, str).strip() for key in ("source", "target"))
    if not source or not target:
        src.fail(number, f"the {'source' if not source else 'target'} is empty")
    return TranslationExample(source, target, line=number)


def _json_get(src: Source, number: int, obj: dict, key: str, kind: type) -> Any:
    if key not in obj:
        src.fail(number, f"missing key {key!r}; the object has {', '.join(map(repr, obj)) or 'no keys'}")
    if not isinstance(obj[key], kind):
        src.fail(number, f"{key!r} must be {_JSON_TYPES[kind]}, not {_JSON_TYPES.get(type(obj[key]))}")
    return obj[key]


def _json_strings(src: Source, number: int, obj: dict, key: str) -> list[str]:
    values = _json_get(src, number, obj, key, list)
    if not values:
        src.fail(number, f"{key!r} is empty")
    if not all(isinstance(value, str) and value for value in values):
        src.fail(number, f"every item of {key!r} must be a non-empty string")
    return values


def _json_label(src: Source, number: int, value: Any) -> str:
    """Labels and tags may be strings or integers (SST-2's 0 and 1); both are kept as strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        src.fail(number, f"a label must be a string or an integer, not {_JSON_TYPES.get(type(value))}")
    return src.label(number, str(value).strip())


_JSON_READERS = {"tagging": _json_tagging, "classification": _json_classification, "translation": _json_translation}
