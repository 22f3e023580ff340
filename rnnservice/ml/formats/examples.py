"""The examples the readers give, one dataclass per task; numeric series are `numeric.SeriesExample`."""
from __future__ import annotations

from dataclasses import dataclass, field

from rnnservice.ml.formats.numeric import SeriesExample


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


@dataclass
class GenerationExample:
    text: str                                # a document (a name, a sentence); at prediction, the prompt ("": none)
    label: str | None = None                 # the condition (a name's language), when the data set has one
    line: int = field(default=0, compare=False)


Example = TaggingExample | ClassificationExample | TranslationExample | GenerationExample | SeriesExample

# What each format can hold, and the options it takes besides known_labels, max_line_chars and max_frames.
