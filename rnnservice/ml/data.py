"""Examples -> tensors: a codec per task and input kind (vocabularies, encode, collate) and length-bucketed
batches. The codecs of numeric series live in `series`."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnservice.ml.config import RunConfig
from rnnservice.ml.formats import ClassificationExample, TaggingExample, TranslationExample
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID, Tokenizer, Vocab, make_tokenizer, tokenizer_from_dict

IGNORE = -100          # target value at padded positions: cross-entropy skips it
MAX_WORD_CHARS = 30    # longer words are cut for the character features; the tail rarely carries the tag


class Codec:
    """Owns the vocabularies of one task; turns examples into tensors and model outputs back into labels."""

    task = ""
    input = "tokens"      # tokens | values: what the model reads (ids through an embedding, or feature vectors)
    vocab_name = ""       # the vocabulary of the outputs: tags, labels or target

    def sizes(self) -> dict[str, int]:
        """What build_model needs to know of the data: vocabulary sizes, or the feature count."""
        names = {"tagging": ("words", "tags", "chars"), "classification": ("words", "labels", "chars"),
                 "translation": ("source", "target")}[self.task]
        return {name: len(getattr(self, name)) for name in names if getattr(self, name) is not None}

    def encode(self, example: Any, *, max_length: int | None = None) -> dict[str, Any]:
        """One example's ids: tensors, or lists that collate turns into one tensor for the batch."""
        raise NotImplementedError

    def collate(self, items: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def _pad(seqs: Sequence[Tensor], value: int = PAD_ID) -> Tensor:
    return pad_sequence(list(seqs), batch_first=True, padding_value=value)


def _lengths(items: Sequence[dict[str, Tensor]], key: str = "ids") -> Tensor:
    return torch.tensor([len(item[key]) for item in items], dtype=torch.long)


def item_length(item: dict[str, Any]) -> int:
    """Steps in one encoded example: its tokens, or its frames."""
    return len(item["ids"] if "ids" in item else item["values"])


def _char_vocab(config: RunConfig, token_lists: Iterable[Sequence[str]]) -> Vocab | None:
    """The characters of the training words, when the architecture asks for character features."""
    if not config.architecture.char_dim:
        return None
    return Vocab.build(Counter(c for tokens in token_lists for t in tokens for c in t[:MAX_WORD_CHARS]))


def _char_ids(chars: Vocab, tokens: Sequence[str]) -> list[list[int]]:
    # <bos> and <eos> around each word let the CNN see prefixes and suffixes as such ("-ly", "un-").
    # Lists, not a tensor per word: collate makes one tensor of the batch's words (a tensor costs microseconds).
    return [[BOS_ID, *chars.encode(t[:MAX_WORD_CHARS]), EOS_ID] for t in tokens]


def _collate_chars(items: Sequence[dict[str, Any]], batch: dict[str, Tensor]) -> Tensor:
    words = [w for i in items for w in i["chars"]]
    width = max(map(len, words))
    flat = torch.tensor([w + [PAD_ID] * (width - len(w)) for w in words])              # (words, L)
    chars = torch.zeros(*batch["ids"].shape, flat.size(1), dtype=torch.long)          # (B, T, L)
    chars[torch.arange(batch["ids"].size(1)) < batch["lengths"][:, None]] = flat
    return chars


class TaggingCodec(Codec):
    task, vocab_name = "tagging", "tags"

    def __init__(self, tokenizer: Tokenizer, words: Vocab, tags: Vocab, chars: Vocab | None):
        self.tokenizer, self.words, self.tags, self.chars = tokenizer, words, tags, chars

    @classmethod
    def fit(cls, examples: Sequence[TaggingExample], config: RunConfig, dev: Sequence = ()) -> TaggingCodec:
        tok = make_tokenizer(config.tokenizer.kind, lowercase=config.tokenizer.lowercase)
        words = Counter(tok.normalize(t) for ex in examples for t in ex.tokens)
        tags = Counter(t for ex in [*examples, *dev] for t in ex.tags)   # a dev-only tag must still be scorable
        return cls(tok, Vocab.build(words, min_freq=config.tokenizer.min_freq, max_size=config.tokenizer.max_vocab),
                   Vocab.build(tags, specials=False), _char_vocab(config, (ex.tokens for ex in examples)))

    def encode(self, example, *, max_length=None):
        tokens = example.tokens[:max_length]
        item = {"ids": torch.tensor(self.words.encode(self.tokenizer.normalize(t) for t in tokens))}
        if self.chars is not None:
            item["chars"] = _char_ids(self.chars, tokens)
        if getattr(example, "tags", None) is not None:
            item["tags"] = torch.tensor(self.tags.encode(example.tags[:max_length]))
        return item

    def collate(self, items):
        batch = {"ids": _pad([i["ids"] for i in items]), "lengths": _lengths(items)}       # (B, T), (B,)
        if self.chars is not None:
            batch["chars"] = _collate_chars(items, batch)                                 # (B, T, L)
        if "tags" in items[0]:
            batch["tags"] = _pad([i["tags"] for i in items], IGNORE)                      # (B, T)
        return batch

    def to_dict(self):
        return {"task": self.task, "tokenizer": self.tokenizer.to_dict(), "words": self.words.to_dict(),
                "tags": self.tags.to_dict(), "chars": self.chars.to_dict() if self.chars else None}

    @classmethod
    def from_dict(cls, data):
        return cls(tokenizer_from_dict(data["tokenizer"]), Vocab.from_dict(data["words"]),
                   Vocab.from_dict(data["tags"]), Vocab.from_dict(data["chars"]) if data["chars"] else None)


class ClassificationCodec(Codec):
    task, vocab_name = "classification", "labels"

    def __init__(self, tokenizer: Tokenizer, words: Vocab, labels: Vocab, chars: Vocab | None = None):
        self.tokenizer, self.words, self.labels, self.chars = tokenizer, words, labels, chars

    def tokens(self, example: ClassificationExample) -> list[str]:
        return example.tokens if example.tokens is not None else self.tokenizer.tokenize(example.text)

    @classmethod
    def fit(cls, examples: Sequence[ClassificationExample], config: RunConfig,
            dev: Sequence = ()) -> ClassificationCodec:
        codec = cls(make_tokenizer(config.tokenizer.kind, lowercase=config.tokenizer.lowercase,
                                   bpe_vocab_size=config.tokenizer.bpe_vocab_size), Vocab([]), Vocab([]))
        codec.tokenizer.fit(ex.text for ex in examples)
        words = Counter(codec.tokenizer.normalize(t) for ex in examples for t in codec.tokens(ex))
        codec.words = Vocab.build(words, min_freq=config.tokenizer.min_freq, max_size=config.tokenizer.max_vocab)
        codec.labels = Vocab.build(Counter(ex.label for ex in [*examples, *dev]), specials=False)
        codec.chars = _char_vocab(config, (codec.tokens(ex) for ex in examples))
        return codec

    def encode(self, example, *, max_length=None):
        tokens = self.tokens(example)[:max_length] or [""]    # an empty text still gets one (unknown) token
        item = {"ids": torch.tensor(self.words.encode(self.tokenizer.normalize(t) for t in tokens))}
        if self.chars is not None:
            item["chars"] = _char_ids(self.chars, tokens)
        if getattr(example, "label", None) is not None:
            item["label"] = torch.tensor(self.labels.id(example.label))
        return item

    def collate(self, items):
        batch = {"ids": _pad([i["ids"] for i in items]), "lengths": _lengths(items)}       # (B, T), (B,)
        if self.chars is not None:
            batch["chars"] = _collate_chars(items, batch)                                 # (B, T, L)
        if "label" in items[0]:
            batch["labels"] = torch.stack([i["label"] for i in items])                      # (B,)
        return batch

    def to_dict(self):
        return {"task": self.task, "tokenizer": self.tokenizer.to_dict(), "words": self.words.to_dict(),
                "labels": self.labels.to_dict(), "chars": self.chars.to_dict() if self.chars else None}

    @classmethod
    def from_dict(cls, data):
        chars = data.get("chars")    # versions saved before classifiers could have character features lack it
        return cls(tokenizer_from_dict(data["tokenizer"]), Vocab.from_dict(data["words"]),
                   Vocab.from_dict(data["labels"]), Vocab.from_dict(chars) if chars else None)


class TranslationCodec(Codec):
    task, vocab_name = "translation", "target"

    def __init__(self, source_tokenizer: Tokenizer, target_tokenizer: Tokenizer, source: Vocab, target: Vocab):
        self.source_tokenizer, self.target_tokenizer = source_tokenizer, target_tokenizer
        self.source, self.target = source, target

    @classmethod
    def fit(cls, examples: Sequence[TranslationExample], config: RunConfig, dev: Sequence = ()) -> TranslationCodec:
        t = config.tokenizer
        sides = []
        for texts in ([ex.source for ex in examples], [ex.target for ex in examples]):
            tok = make_tokenizer(t.kind, lowercase=t.lowercase, bpe_vocab_size=t.bpe_vocab_size)
            tok.fit(texts)
            counts = Counter(tok.normalize(w) for text in texts for w in tok.tokenize(text))
            sides.append((tok, Vocab.build(counts, min_freq=t.min_freq, max_size=t.max_vocab)))
        (src_tok, src_vocab), (tgt_tok, tgt_vocab) = sides
        return cls(src_tok, tgt_tok, src_vocab, tgt_vocab)

    def encode_source(self, text: str, max_length: int | None = None) -> Tensor:
        tokens = self.source_tokenizer.tokenize(text)[:max_length] or [""]
        return torch.tensor(self.source.encode(self.source_tokenizer.normalize(w) for w in tokens) + [EOS_ID])

    def encode(self, example, *, max_length=None):
        item = {"ids": self.encode_source(example.source, max_length)}
        if getattr(example, "target", None) is not None:
            tokens = self.target_tokenizer.tokenize(example.target)[:max_length]
            ids = self.target.encode(self.target_tokenizer.normalize(w) for w in tokens)
            item["target"] = torch.tensor([BOS_ID] + ids + [EOS_ID])
        return item

    def collate(self, items):
        batch = {"ids": _pad([i["ids"] for i in items]), "lengths": _lengths(items)}       # (B, S), (B,)
        if "target" in items[0]:
            batch["target"] = _pad([i["target"] for i in items])                            # (B, T+2)
        return batch

    def detokenize(self, ids: Sequence[int]) -> tuple[str, list[str]]:
        """Target ids (no <bos>, cut at <eos>) -> text and tokens."""
        tokens = self.target.decode(i for i in ids if i > EOS_ID)
        return self.target_tokenizer.detokenize(tokens), tokens

    def to_dict(self):
        return {"task": self.task, "source_tokenizer": self.source_tokenizer.to_dict(),
                "target_tokenizer": self.target_tokenizer.to_dict(),
                "source": self.source.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, data):
        return cls(tokenizer_from_dict(data["source_tokenizer"]), tokenizer_from_dict(data["target_tokenizer"]),
                   Vocab.from_dict(data["source"]), Vocab.from_dict(data["target"]))


CODECS = {c.task: c for c in (TaggingCodec, ClassificationCodec, TranslationCodec)}


def codec_class(task: str, input: str | None = "tokens") -> type[Codec]:
    if input == "values":
        from rnnservice.ml.series import SERIES_CODECS  # series imports this module
        return SERIES_CODECS[task]
    return CODECS[task]


def codec_from_dict(data: dict[str, Any]) -> Codec:
    return codec_class(data["task"], data.get("input", "tokens")).from_dict(data)


def split_dev(examples: list, *, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded random split: the same seed and data give the same two lists.

    Examples with a label (classification) are split per label, so that each label keeps its share in both
    parts (ECG5000 has 2 series of one class in 500: a plain draw often leaves the dev split without it).
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * fraction))
    labels = [getattr(ex, "label", None) for ex in examples]
    if labels and None not in labels:
        order = _stratified(order, labels, cut)
    dev, train = sorted(order[:cut]), sorted(order[cut:])
    return [examples[i] for i in train], [examples[i] for i in dev]


def _stratified(order: list[int], labels: list[str], cut: int) -> list[int]:
    """`order` rearranged so that its first `cut` indices hold each label in proportion (largest remainders)."""
    groups: dict[str, list[int]] = {}
    for i in order:
        groups.setdefault(labels[i], []).append(i)
    share = {label: len(group) * cut / len(order) for label, group in groups.items()}
    quota = {label: int(s) for label, s in share.items()}
    by_remainder = sorted(groups, key=lambda label: quota[label] - share[label])    # stable: first-drawn first
    for label in by_remainder[:cut - sum(quota.values())]:
        quota[label] += 1
    chosen = {i for label, group in groups.items() for i in group[:quota[label]]}
    return [i for i in order if i in chosen] + [i for i in order if i not in chosen]


def batches(items: Sequence[dict[str, Tensor]], codec: Codec, *, batch_size: int, shuffle: bool = False,
            seed: int = 0, exact_lengths: bool = True) -> Iterator[tuple[list[int], dict[str, Tensor]]]:
    """Batches of examples of one length where there are enough of them, each with the indices it holds.

    Examples of one length go together in full batches: no padding, and the RNN runs without packing, which on a
    CPU trains 2 to 2.5 times faster than packed batches of varying lengths. What is left of each length (fewer
    than `batch_size`) goes into batches of similar lengths, as all examples did before (`exact_lengths=False`,
    kept for the benchmark that compares the two). Shuffled runs draw each length's batches and the leftovers'
    pools at random and shuffle the batch order, so that each epoch differs; `seed` makes the order repeat. The
    number of batches depends on the lengths only (batch_count), so the learning-rate schedule knows it.
    """
    for group in _groups([item_length(item) for item in items], batch_size,
                         random.Random(seed) if shuffle else None, exact_lengths):
        yield group, codec.collate([items[i] for i in group])


def batch_count(items: Sequence[dict[str, Tensor]], batch_size: int, exact_lengths: bool = True) -> int:
    return sum(1 for _ in _groups([item_length(item) for item in items], batch_size, None, exact_lengths))


def _groups(length: list[int], batch_size: int, rng: random.Random | None, exact_lengths: bool) -> list[list[int]]:
    order = list(range(len(length)))
    if rng is not None:
        rng.shuffle(order)
    groups, rest = [], order
    if exact_lengths:
        by_length: dict[int, list[int]] = {}
        for i in order:
            by_length.setdefault(length[i], []).append(i)
        rest = []
        for _, same in sorted(by_length.items()):
            full = len(same) - len(same) % batch_size
            groups += [same[i:i + batch_size] for i in range(0, full, batch_size)]
            rest += same[full:]
        if rng is not None:
            rng.shuffle(rest)
    if rng is not None:   # similar lengths inside random pools of 50 batches
        pool = batch_size * 50
        rest = [i for start in range(0, len(rest), pool)
                for i in sorted(rest[start:start + pool], key=length.__getitem__)]
    else:
        rest = sorted(rest, key=length.__getitem__)
    groups += [rest[i:i + batch_size] for i in range(0, len(rest), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    return groups
