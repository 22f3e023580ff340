"""Slices of the CoNLL-U corpora for the benchmarks that train a small model: written to a temporary folder,
never into the project."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def conllu_sentences(path: Path) -> Iterator[str]:
    """Each sentence block of a CoNLL-U file, comments included, with its closing blank line."""
    block: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                block.append(line)
            elif block:
                yield "".join(block) + "\n"
                block = []
    if block:
        yield "".join(block) + "\n"


def write_slice(source: Path, target: Path, count: int, *, skip: int = 0) -> Path:
    """The sentences skip..skip+count of `source`, written to `target`."""
    with target.open("w", encoding="utf-8") as out:
        for number, sentence in enumerate(conllu_sentences(source)):
            if number >= skip + count:
                break
            if number >= skip:
                out.write(sentence)
    return target
