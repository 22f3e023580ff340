"""Tokenizers (regex words, characters, pre-tokenized, learned BPE subwords) and the Vocab."""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rnnservice.ml.errors import ArtifactError, ConfigError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)

# Words, numbers with inner punctuation (3.5, 1,000, 1996-08-22), and any other single symbol.
WORD_RE = re.compile(r"\w+(?:[-'.,:/]\w+)*|\S", re.UNICODE)


class Vocab:
    """A fixed mapping token <-> id; ids 0-3 are <pad> <unk> <bos> <eos> (labels use `specials=False`)."""

    def __init__(self, tokens: Sequence[str], *, specials: bool = True):
        self.specials = specials
        self.itos = list(SPECIALS) + [t for t in tokens if t not in SPECIALS] if specials else list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, counts: Counter, *, min_freq: int = 1, max_size: int | None = None,
              specials: bool = True) -> Vocab:
        """Most frequent first, ties by first appearance order of `counts` for repeatable ids."""
        kept = [t for t, c in counts.most_common(max_size) if c >= min_freq]
        return cls(kept, specials=specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def id(self, token: str) -> int:
        if self.specials:
            return self.stoi.get(token, UNK_ID)
        return self.stoi[token]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"specials": self.specials, "tokens": self.itos[len(SPECIALS):] if self.specials else self.itos}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        return cls(data["tokens"], specials=data["specials"])


class Tokenizer:
    """Text -> tokens. Subclasses state whether they need training (`fit`) and how to join tokens back."""

    kind = ""
    joiner = " "

    def __init__(self, lowercase: bool = False):
        self.lowercase = lowercase

    def fit(self, texts: Iterable[str]) -> None:
        """Learn what the tokenizer needs from training texts; most need nothing."""

    def normalize(self, token: str) -> str:
        """The form looked up in the word vocabulary."""
        return token.lower() if self.lowercase else token

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.joiner.join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lowercase": self.lowercase}


class WordTokenizer(Tokenizer):
    kind = "words"

    def tokenize(self, text: str) -> list[str]:
        return WORD_RE.findall(text)


class WhitespaceTokenizer(Tokenizer):
    """For text that is already tokenized: tokens are separated by white space."""

    kind = "whitespace"

    def tokenize(self, text: str) -> list[str]:
        return text.split()


class CharTokenizer(Tokenizer):
    kind = "chars"
    joiner = ""

    def tokenize(self, text: str) -> list[str]:
        return list(text.strip())


class BpeTokenizer(Tokenizer):
    """Byte-pair subwords learned with the `tokenizers` library; decodes back to plain text."""

    kind = "bpe"

    def __init__(self, lowercase: bool = False, vocab_size: int = 8000, model_json: str | None = None):
        super().__init__(lowercase)
        self.vocab_size = vocab_size
        self._model = None
        if model_json is not None:
            from tokenizers import Tokenizer as HfTokenizer
            try:
                self._model = HfTokenizer.from_str(model_json)
            except Exception as exc:  # the library raises its own Exception subclass
                raise ArtifactError(f"the subword tokenizer cannot be read: {exc}") from exc

    def fit(self, texts: Iterable[str]) -> None:
        from tokenizers import Tokenizer as HfTokenizer
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers
        model = HfTokenizer(models.BPE(unk_token=UNK))
        model.normalizer = normalizers.Sequence([normalizers.NFKC()] +
                                                ([normalizers.Lowercase()] if self.lowercase else []))
        # Metaspace keeps word boundaries inside the tokens, so decoding restores the spaces exactly.
        model.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(),
                                                       pre_tokenizers.Punctuation()])
        model.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, special_tokens=list(SPECIALS),
                                      show_progress=False)
        model.train_from_iterator(texts, trainer=trainer)
        self._model = model

    def normalize(self, token: str) -> str:
        return token  # the subword model's normalizer already did it

    def tokenize(self, text: str) -> list[str]:
        if self._model is None:
            raise RuntimeError("BpeTokenizer.fit() must run before tokenize()")
        return self._model.encode(text).tokens

    def detokenize(self, tokens: Sequence[str]) -> str:
        ids = [self._model.token_to_id(t) for t in tokens]
        return self._model.decode([i for i in ids if i is not None])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "vocab_size": self.vocab_size, "model": json.loads(self._model.to_str())}


TOKENIZERS = {cls.kind: cls for cls in (WordTokenizer, WhitespaceTokenizer, CharTokenizer, BpeTokenizer)}


def make_tokenizer(kind: str, *, lowercase: bool = False, bpe_vocab_size: int = 8000) -> Tokenizer:
    if kind not in TOKENIZERS:
        raise ConfigError("tokenizer.kind", f"must be one of {sorted(TOKENIZERS)}, not {kind!r}")
    if kind == "bpe":
        return BpeTokenizer(lowercase, vocab_size=bpe_vocab_size)
    return TOKENIZERS[kind](lowercase)


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    kind = data.get("kind")
    if kind == "bpe":
        return BpeTokenizer(data["lowercase"], data["vocab_size"], model_json=json.dumps(data["model"]))
    if kind not in TOKENIZERS:
        raise ArtifactError(f"unknown tokenizer kind {kind!r} in the model's files")
    return TOKENIZERS[kind](data["lowercase"])
