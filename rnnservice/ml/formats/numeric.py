"""Numeric series formats: UCR text, sktime/aeon .ts, JSONL objects with "values", and NumPy .npz -> SeriesExample."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats.labels import check_label

if TYPE_CHECKING:
    from rnnservice.ml.formats.source import Source

MAX_FRAMES = 10_000
SERIES_TASKS = ("classification", "tagging")
# A plain decimal number, or nan/inf so that they are reported as not finite rather than as text.
_NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)\s*",
                     re.IGNORECASE)
_TS_FLAGS = ("timestamps", "missing", "univariate", "equallength")
_TS_KEYS = ("problemname", *_TS_FLAGS, "dimensions", "serieslength", "classlabel", "targetlabel", "data")

Where = Callable[[int, int], str]          # (frame, feature) -> how the message names that value


@dataclass(eq=False)
class SeriesExample:
    values: np.ndarray                   # (T, F) float32, finite; a univariate series is (T, 1)
    label: str | None = None             # classification
    tags: list[str] | None = None        # tagging: one tag per frame (len == T)
    line: int = field(default=0, compare=False)   # 1-based line where it starts; for npz the index + 1


class SeriesFile:
    """The checks every series of one file passes; all of them must have the feature count of the first."""

    def __init__(self, path: str, known: frozenset[str] | None = None, max_frames: int = MAX_FRAMES):
        self.path, self.known, self.max_frames = path, known, max_frames
        self.features = 0                # of the first series; 0 until one is read
        self.first_line = 0

    def fail(self, line: int, problem: str) -> NoReturn:
        raise FormatError(self.path, line, problem)

    def label(self, line: int, value: str) -> str:
        return check_label(self.path, line, value, self.known)

    def width(self, line: int, count: int, what: str) -> None:
        """`what` (a frame, a series' channels) holds `count` features; it must hold as many as the first."""
        if count == 0:
            self.fail(line, f"{what}: no values")
        if not self.features:
            self.features, self.first_line = count, line
        elif count != self.features:
            self.fail(line, f"{what}: {_count(count, 'feature')}, but the first series of the file "
                            f"(line {self.first_line}) has {self.features}; every series of a file needs as many")

    def series(self, line: int, values: np.ndarray, where: Where) -> np.ndarray:
        """(T, F) numbers -> (T, F) float32, after the checks on length, feature count and finiteness."""
        frames, features = values.shape
        if frames == 0:
            self.fail(line, "the series is empty: it needs at least one frame")
        if frames > self.max_frames:
            self.fail(line, f"the series has {frames:,} frames; the limit is {self.max_frames:,} (max_frames)")
        self.width(line, features, "the series")
        with np.errstate(over="ignore", invalid="ignore"):
            out = values.astype(np.float32)                     # (T, F); overflow becomes inf, found below
        bad = ~np.isfinite(out)
        if bad.any():
            t, f = (int(i) for i in np.argwhere(bad)[0])
            original = values[t, f]
            why = "too large for a 32-bit float" if np.isfinite(original) else "not a finite number"
            self.fail(line, f"{where(t, f)}: {why} ({float(original)!r})")
        return out

    def numbers(self, line: int, fields: list[str], where: Callable[[int], str]) -> np.ndarray:
        """Text fields -> float64 (T,); plain decimal numbers only (no 1_000, no digits of other scripts)."""
        if all(field.isascii() and "_" not in field for field in fields):
            try:
                return np.array(fields, dtype=np.float64)
            except ValueError:
                pass
        for i, text in enumerate(fields):
            if text.strip() == "?":
                self.fail(line, f"{where(i)}: '?' marks a missing value; fill in or drop the series' missing values")
            if not text.strip():
                self.fail(line, f"{where(i)}: the value is empty")
            if not _NUMBER.fullmatch(text):
                shown = repr(text.strip()) if len(text) < 40 else repr(text.strip()[:37]) + "..."
                self.fail(line, f"{where(i)}: {shown} is not a number")
        return np.array(fields, dtype=np.float64)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def label_text(value: Any) -> str | None:
    """A label as text: strings stripped, numbers in one form (1, 1.0 and "1.0" are all "1"); None if no label."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return value.strip() if isinstance(value, str) else None


# UCR: "label v1 v2 ..." a line, separated by tabs, commas or spaces

def read_ucr(src: Source, task: str) -> list[SeriesExample]:
    file = SeriesFile(src.path, src.known, src.max_frames)
    examples: list[SeriesExample] = []
    for number, line in enumerate(src.lines, 1):
        if not line.strip():
            continue
        fields = split_fields(line)
        label = _ucr_label(fields[0])
        if label is None:
            file.fail(number, f"missing label: the first field, {fields[0].strip()!r}, is no class label")
        label = file.label(number, label)
        if len(fields) == 1:
            file.fail(number, "a label but no values: the series is empty")
        values = file.numbers(number, fields[1:], lambda i: f"value {i + 1}")
        examples.append(SeriesExample(file.series(number, values[:, None], lambda t, f: f"value {t + 1}"),
                                      label=label, line=number))
    return examples


def split_fields(line: str) -> list[str]:
    """A UCR line's fields: split on tabs if it has any, else on commas, else on runs of spaces."""
    line = line.strip()
    if "\t" in line:
        return line.split("\t")
    return line.split(",") if "," in line else line.split()


def looks_like_ucr(lines: list[str], *, named_labels: bool = False) -> bool:
    """Every field of every line a number, and at least a label and a value a line (no header). A "?" counts
    as a number here, so that the reader, not a guess at another format, reports the missing value. With
    `named_labels` (the file is known to hold series), the label first may be a name ("sine"), before at least
    two values (a text table's last column may be a number: "great fun<TAB>1" is no series)."""
    rows = [split_fields(line) for line in lines]
    first, fewest = (1, 3) if named_labels else (0, 2)
    return bool(rows) and all(
        len(row) >= fewest and all(_NUMBER.fullmatch(cell) or cell.strip() == "?" for cell in row[first:])
        for row in rows)


def _ucr_label(text: str) -> str | None:
    """UCR files often write labels as floats ("1.0000000e+00"): a numeric label is kept in its shortest form.
    None for NaN or infinity."""
    text = text.strip()
    return label_text(float(text)) if _NUMBER.fullmatch(text) else text


# sktime / aeon .ts: a header of @keys, then "@data" and a case a line: channels split by ":", the label last

@dataclass
class _TsHeader:
    flags: dict[str, bool] = field(default_factory=dict)
    dimensions: int = 0                  # 0: not declared
    length: int = 0                      # @seriesLength; 0: not declared
    labels: tuple[str, ...] | None = None    # @classLabel true a b c; None: no labels
    first_length: int = 0                # of the first case, for @equalLength true without @seriesLength


def read_ts(src: Source, task: str) -> list[SeriesExample]:
    file = SeriesFile(src.path, src.known, src.max_frames)
    header = _TsHeader()
    examples: list[SeriesExample] = []
    data = 0                             # the line of @data; 0 while still in the header
    for number, raw in enumerate(src.lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if data:
            examples.append(_ts_case(file, header, number, line))
        elif not line.startswith("@"):
            file.fail(number, "a header line starts with @ (or # for a comment), and the series come after @data")
        elif _ts_header_line(file, header, number, line):
            data = number
            if header.labels is None:
                file.fail(number, f"no labels: the header lacks '@classLabel true' and the class labels; {task} "
                                  "needs a label for every series")
    if not data:
        file.fail(max(len(src.lines), 1), "no @data line: the series of a .ts file come after one")
    return examples


def _ts_header_line(file: SeriesFile, header: _TsHeader, number: int, line: str) -> bool:
    """Reads one @key line into `header`; True at @data."""
    key, *words = line[1:].split() or [""]
    name = key.lower()
    if name not in _TS_KEYS:
        file.fail(number, f"unknown header line @{key}; a .ts header has @problemName, @timeStamps, @missing, "
                          "@univariate, @dimensions, @equalLength, @seriesLength, @classLabel, @data")
    if name == "data":
        return True
    if name in _TS_FLAGS or name == "targetlabel":
        if len(words) != 1 or words[0].lower() not in ("true", "false"):
            file.fail(number, f"@{key} takes true or false, not {' '.join(words)!r}")
        header.flags[name] = words[0].lower() == "true"
        if name == "timestamps" and header.flags[name]:
            file.fail(number, "@timeStamps true: series with time stamps are not supported; write the values only")
        if name == "targetlabel" and header.flags[name]:
            file.fail(number, "@targetLabel true: regression targets are not supported; label the series with "
                              "@classLabel true and its classes")
    elif name in ("dimensions", "serieslength"):
        if len(words) != 1 or not words[0].isdecimal() or not words[0].isascii() or int(words[0]) < 1:
            file.fail(number, f"@{key} takes a positive whole number, not {' '.join(words)!r}")
        if name == "dimensions":
            header.dimensions = int(words[0])
        else:
            header.length = int(words[0])
    elif name == "classlabel":
        if not words or words[0].lower() not in ("true", "false"):
            file.fail(number, "@classLabel takes true and the class labels, or false")
        if words[0].lower() == "true" and len(words) == 1:
            file.fail(number, "@classLabel true needs the class labels after it, e.g. @classLabel true a b c")
        header.labels = tuple(words[1:]) if words[0].lower() == "true" else None
    if header.flags.get("univariate") and header.dimensions > 1:
        file.fail(number, f"@univariate true, but @dimensions is {header.dimensions}")
    return False


def _ts_case(file: SeriesFile, header: _TsHeader, number: int, line: str) -> SeriesExample:
    parts = line.split(":")
    label = parts.pop().strip()
    if not parts or ("," in label and label not in (header.labels or ())):
        file.fail(number, "missing label: the case ends with values; it needs ':' and its class label last")
    if header.labels is not None and label not in header.labels:
        shown = ", ".join(header.labels[:20]) + (", ..." if len(header.labels) > 20 else "")
        file.fail(number, f"label {label!r} is not one of the @classLabel labels: {shown}")
    label = file.label(number, label)
    expected = header.dimensions or (1 if header.flags.get("univariate") else 0)
    if expected and len(parts) != expected:
        declared = f"@dimensions is {expected}" if header.dimensions else "@univariate is true"
        file.fail(number, f"the case has {_count(len(parts), 'channel')}, but {declared}")
    channels = []
    for c, part in enumerate(parts):
        if not part.strip():
            file.fail(number, f"channel {c + 1} is empty: a series needs at least one value in each channel")
        values = file.numbers(number, part.split(","), lambda i, c=c: f"channel {c + 1}, value {i + 1}")
        if channels and len(values) != len(channels[0]):
            file.fail(number, f"channel {c + 1} has {len(values)} values, but channel 1 has {len(channels[0])}; "
                              "the channels of a series need equal lengths")
        channels.append(values)
    values = np.stack(channels, axis=1)                               # (T, F)
    if header.flags.get("equallength"):
        length = header.length or header.first_length or len(values)
        if len(values) != length:
            declared = f"@seriesLength is {length}" if header.length else \
                f"@equalLength is true and the first series (line {file.first_line}) has {length}"
            file.fail(number, f"the series has {len(values)} values, but {declared}")
    header.first_length = header.first_length or len(values)
    return SeriesExample(file.series(number, values, lambda t, f: f"channel {f + 1}, value {t + 1}"),
                         label=label, line=number)


# JSONL: {"values": [[f1, ..., fF], ...] or [v1, v2, ...], "label": ...} or {"values": ..., "tags": [...]}

def read_json_series(file: SeriesFile, task: str, number: int, obj: dict) -> SeriesExample:
    """One parsed JSONL object with "values"; the text JSONL reader hands the file's series objects here."""
    if task not in SERIES_TASKS:
        file.fail(number, f"a series (an object with 'values') holds {' or '.join(SERIES_TASKS)} data, not {task}")
    values = file.series(number, *_json_frames(file, number, obj["values"]))
    if task == "classification":
        return SeriesExample(values, label=_json_label(file, number, _json_key(file, number, obj, "label")),
                             line=number)
    tags = _json_key(file, number, obj, "tags")
    if not isinstance(tags, list):
        file.fail(number, f"'tags' must be an array, one tag a frame, not {_json_type(tags)}")
    if len(tags) != len(values):
        file.fail(number, f"{_count(len(values), 'frame')} but {_count(len(tags), 'tag')}; each frame needs one tag")
    return SeriesExample(values, tags=[_json_label(file, number, tag) for tag in tags], line=number)


def _json_frames(file: SeriesFile, number: int, raw: Any) -> tuple[np.ndarray, Where]:
    """The "values" of an object -> (T, F) float64 and how to name one value; a flat list is one channel."""
    if not isinstance(raw, list):
        file.fail(number, "'values' must be an array of frames (or of numbers, for one channel), "
                          f"not {_json_type(raw)}")
    if not raw:
        file.fail(number, "the series is empty: 'values' has no frames")
    if not isinstance(raw[0], list):
        _json_numbers(file, number, raw, lambda t: f"values[{t}]")
        return np.array(raw, dtype=np.float64)[:, None], lambda t, f: f"values[{t}]"
    for t, frame in enumerate(raw):
        if not isinstance(frame, list):
            file.fail(number, f"values[{t}]: a frame must be an array of numbers like values[0], "
                              f"not {_json_type(frame)}")
        file.width(number, len(frame), f"values[{t}]")
        _json_numbers(file, number, frame, lambda f, t=t: f"values[{t}][{f}]")
    return np.array(raw, dtype=np.float64), lambda t, f: f"values[{t}][{f}]"


def _json_numbers(file: SeriesFile, number: int, items: list, where: Callable[[int], str]) -> None:
    for i, item in enumerate(items):
        if type(item) is float:                 # NaN and Infinity are floats here; series() reports them
            continue
        if type(item) is not int:               # type(), not isinstance: true and false are no numbers here
            file.fail(number, f"{where(i)}: {_json_type(item)} is not a number")
        if abs(item) >= 1 << 128:               # beyond float32 (and maybe float64, which would raise)
            file.fail(number, f"{where(i)}: too large for a 32-bit float")


def _json_key(file: SeriesFile, number: int, obj: dict, key: str) -> Any:
    if key not in obj:
        file.fail(number, f"missing key {key!r}; the object has {', '.join(map(repr, obj))}")
    return obj[key]


def _json_label(file: SeriesFile, number: int, value: Any) -> str:
    """Strings or numbers, as in the text JSONL reader; a whole float (1.0, as numpy writes labels) is "1"."""
    text = label_text(value)
    if text is None:
        file.fail(number, f"a label must be a string or a number, not {_json_type(value)}")
    return file.label(number, text)


def _json_type(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return {dict: "an object", list: "an array", str: "a string", bool: "true or false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), "something else")


# NumPy .npz: X [N, T, F] or [N, T], y [N] labels or [N, T] tags, optional lengths [N]

def read_npz(path: str, task: str, *, known: Collection[str] | None = None,
             max_frames: int = MAX_FRAMES) -> list[SeriesExample]:
    """A binary archive, never read as text lines. An error's line is the series' index + 1 (1 for the archive)."""
    file = SeriesFile(path, None if known is None else frozenset(known), max_frames)
    arrays = _npz_arrays(file, task)
    x, y = arrays["X"], arrays["y"]
    if x.dtype.kind not in "iuf":
        file.fail(1, f"X holds {x.dtype} values; it must hold numbers (integers or floats)")
    if x.ndim not in (2, 3):
        file.fail(1, f"X has shape {list(x.shape)}; it must be [N, T, F] or [N, T] (series, frames, features)")
    where: Callable[[int], Where] = (lambda i: lambda t, f: f"X[{i}, {t}, {f}]") if x.ndim == 3 else \
        (lambda i: lambda t, f: f"X[{i}, {t}]")
    x = x if x.ndim == 3 else x[:, :, None]                                # (N, T, F)
    count, frames = x.shape[:2]
    lengths = _npz_lengths(file, arrays.get("lengths"), count, frames)
    labels = _npz_labels(file, task, y, (count,) if task == "classification" else (count, frames))
    examples: list[SeriesExample] = []
    for i in range(count):
        n = int(lengths[i])
        values = file.series(i + 1, x[i, :n], where(i))                  # (n, F)
        if task == "classification":
            examples.append(SeriesExample(values, label=_npz_label(file, i, labels[i], f"y[{i}]"), line=i + 1))
        else:
            tags = [_npz_label(file, i, tag, f"y[{i}, {t}]") for t, tag in enumerate(labels[i][:n])]
            examples.append(SeriesExample(values, tags=tags, line=i + 1))
    return examples


def _npz_arrays(file: SeriesFile, task: str) -> dict[str, np.ndarray]:
    """X, y and lengths from the archive. np.load's errors on a damaged or foreign file are many and unlisted
    (BadZipFile, EOFError, zlib.error, ValueError, ...), so any exception while loading is a FormatError."""
    try:
        loaded = np.load(file.path, allow_pickle=False)
    except OSError as exc:
        raise FormatError(file.path, 0, f"cannot read the file: {exc.strerror or exc}") from None
    except Exception as exc:            # np.load's own words would suggest pickle, which we never use
        detail = "" if "pickle" in str(exc) else f" ({type(exc).__name__}: {exc})"
        raise FormatError(file.path, 1, f"not a NumPy .npz archive{detail}; save one with "
                                        "np.savez(path, X=..., y=...)") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        file.fail(1, "a single NumPy array, not an .npz archive; save one with np.savez(path, X=..., y=...)")
    arrays: dict[str, np.ndarray] = {}
    with loaded:
        for name, what in (("X", "the series, [N, T, F] or [N, T]"),
                           ("y", "the labels, [N]" if task == "classification" else "the tags, [N, T]")):
            if name not in loaded.files:
                file.fail(1, f"missing array {name!r} ({what}); the archive has "
                             f"{', '.join(map(repr, loaded.files)) or 'no arrays'}")
        for name in ("X", "y", "lengths"):
            if name not in loaded.files:
                continue
            try:
                arrays[name] = loaded[name]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    file.fail(1, f"{name} is an array of Python objects: reading it needs pickle, which is refused; "
                                 "save numbers (and labels as integers or strings)")
                file.fail(1, f"cannot read array {name!r}: {exc}")
            except Exception as exc:
                file.fail(1, f"cannot read array {name!r}: {exc}")
    return arrays


def _npz_lengths(file: SeriesFile, lengths: np.ndarray | None, count: int, frames: int) -> np.ndarray:
    if lengths is None:
        return np.full(count, frames)
    if lengths.dtype.kind not in "iu" or lengths.shape != (count,):
        file.fail(1, f"lengths is {lengths.dtype} with shape {list(lengths.shape)}; it must hold {count} integers, "
                     "one a series")
    bad = np.flatnonzero((lengths < 1) | (lengths > frames))
    if bad.size:
        i = int(bad[0])
        file.fail(i + 1, f"lengths[{i}]: {int(lengths[i])}; a length must be 1 to {frames} (the frames of X)")
    return lengths


def _npz_labels(file: SeriesFile, task: str, y: np.ndarray, shape: tuple[int, ...]) -> list:
    """y as nested Python lists of ints, floats or strings."""
    if y.shape != shape:
        one = "one label a series" if task == "classification" else "one tag a frame"
        file.fail(1, f"y has shape {list(y.shape)}; for {task} it must be {list(shape)}, {one}")
    if y.dtype.kind == "S":
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError:
            file.fail(1, "y holds bytes that are not valid UTF-8")
    if y.dtype.kind not in "iufU":
        file.fail(1, f"y holds {y.dtype} values; labels must be integers or strings")
    return y.tolist()


def _npz_label(file: SeriesFile, i: int, value: Any, where: str) -> str:
    text = label_text(value)
    if text is None:
        file.fail(i + 1, f"{where}: no label ({value!r})")
    if not text:
        file.fail(i + 1, f"{where}: the label is empty")
    return file.label(i + 1, text)
