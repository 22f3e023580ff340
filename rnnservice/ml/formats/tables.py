"""The readers of tables with a header: CSV and TSV, for classification (text, label) and translation (source,
target), with the columns picked by name."""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from rnnservice.ml.formats.examples import ClassificationExample, Example, TranslationExample
from rnnservice.ml.formats.source import Source

TABLE_OPTIONS = {"classification": ("text_column", "label_column"), "translation": ("source_column", "target_column")}


def read_table(src: Source, task: str, *, delimiter: str, **columns: str) -> list[Example]:
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
