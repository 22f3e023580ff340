"""The readers of tables with a header: CSV and TSV, for classification (text, label), translation (source,
target) and generation (text, an optional label: the condition), with the columns picked by name."""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from rnnservice.ml.formats.examples import ClassificationExample, Example, GenerationExample, TranslationExample
from rnnservice.ml.formats.source import Source

TABLE_OPTIONS = {"classification": ("text_column", "label_column"), "translation": ("source_column", "target_column"),
                 "generation": ("text_column", "label_column")}
_TEXT_NAMES, _LABEL_NAMES = ("text", "sentence", "name"), ("label", "language", "category")


def read_table(src: Source, task: str, *, delimiter: str, **columns: str) -> list[Example]:
    if task == "generation":
        return _read_generation_table(src, delimiter, columns)
    rows = _table_rows(src, delimiter)
    header_line, header = next(rows, (1, [""]))
    names = [name.strip() for name in header]
    if len(names) < 2:
        src.fail(header_line, f"the header needs at least 2 columns, it has {len(names)}: {names[0]!r}")
    first, second = _pick_columns(src, header_line, names, task, columns)
    examples: list[Example] = []
    for number, cells in rows:
        if len(cells) != len(names):
            found = f"{len(cells)} column" + ("" if len(cells) == 1 else "s")
            src.fail(number, f"ragged row: {found}, but the header has {len(names)}")
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


def _read_generation_table(src: Source, delimiter: str, given: dict[str, str]) -> list[Example]:
    """A text column and an optional label column (the condition): named by the options, else the usual names
    (text, sentence, name; label, language, category), else the first column and, in a table of two, the other."""
    rows = _table_rows(src, delimiter)
    header_line, header = next(rows, (1, [""]))
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    picked = []
    for option, usual in (("text_column", _TEXT_NAMES), ("label_column", _LABEL_NAMES)):
        name = given.get(option)
        if name is not None and name not in names:
            src.fail(header_line, f"missing column {name!r} ({option}); the header has {', '.join(map(repr, names))}")
        picked.append(names.index(name) if name is not None else
                      next((lowered.index(u) for u in usual if u in lowered), None))
    text, label = picked
    if text is None:
        text = next((i for i in range(len(names)) if i != label), None)
        if text is None:
            src.fail(header_line, f"no text column: the header has only {names[0]!r}, picked as the label")
    if label is None and len(names) == 2 and "label_column" not in given:
        label = 1 - text
    if text == label:
        src.fail(header_line, f"text_column and label_column both pick the column {names[text]!r}")
    examples: list[Example] = []
    for number, cells in rows:
        if len(cells) != len(names):
            src.fail(number, f"ragged row: {len(cells)} columns, but the header has {len(names)}")
        if not cells[text].strip():
            src.fail(number, f"the text in column {names[text]!r} is empty")
        examples.append(GenerationExample(cells[text].strip(),
                                          None if label is None else src.label(number, cells[label].strip()),
                                          line=number))
    _check_header(src, header_line, names, None if label is None else names[label], examples)
    return examples


def _check_header(src: Source, line: int, names: list[str], label_name: str | None, examples: list[Example]) -> None:
    """A file without a header would lose its first example as the header, in silence: refuse a header that reads
    as data, all of it numbers, or (classification) with one of the labels where the label column's name is."""
    numbers = all(_NUMBER.fullmatch(name) for name in names)
    if numbers or label_name is not None and label_name in {ex.label for ex in examples}:
        why = "all its cells are numbers" if numbers else f"its label column's name {label_name!r} is a label"
        src.fail(line, f"the first line is read as the header, which names the columns, but it looks like data "
                       f"({why}); add a header line, e.g. 'text' and 'label' (or 'source' and 'target')")


_NUMBER = re.compile(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*")


def _table_rows(src: Source, delimiter: str) -> Iterator[tuple[int, list[str]]]:
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


def _pick_columns(src: Source, line: int, names: list[str], task: str, given: dict[str, str]) -> tuple[int, int]:
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
