"""A text data file as the readers see it: its lines (read once, checked for UTF-8 and line length), its path
for errors, and the labels a trained model knows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats.labels import check_label
from rnnservice.ml.formats.numeric import MAX_FRAMES

MAX_LINE_CHARS = 100_000
BOM = b"\xef\xbb\xbf"


def count_columns(count: int, kind: str = "") -> str:
    """"1 column", "3 tab-separated columns": a count a message can say."""
    return f"{count} {kind}column" + ("" if count == 1 else "s")


@dataclass
class Source:
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


def read_lines(path: str, max_line_chars: int) -> list[str]:
    """The file's lines without line ends (\\n or \\r\\n); a BOM is dropped and bad UTF-8 is reported at its line."""
    try:
        data = Path(path).read_bytes().removeprefix(BOM)
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
