"""Examples -> tensors: the Codec base (each task module has its codecs), helpers they share, the dev split and
length-bucketed batches."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnservice.ml.config import RunConfig
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID, Vocab

IGNORE = -100          # target value at padded positions: cross-entropy skips it
MAX_WORD_CHARS = 30    # longer words are cut for the character features; the tail rarely carries the tag


class Codec:
    """Owns the vocabularies of one task; turns examples into tensors and model outputs back into labels."""

    task = ""
    input = "tokens"      # tokens | values: what the model reads (ids through an embedding, or feature vectors)
    vocab_name = ""       # the vocabulary of the outputs: tags, labels or target

    def sizes(self) -> dict[str, int]:
        """What build_model needs to know of the data: vocabulary sizes, or the feature count."""
        raise NotImplementedError

    @classmethod
    def fit(cls, examples: Sequence[Any], config: RunConfig, dev: Sequence[Any] = ()) -> Codec:
        """Learn the vocabularies (or scales) from the training examples; dev examples may add output labels."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codec:
        raise NotImplementedError

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


def codec_class(task: str, input: str | None = "tokens") -> type[Codec]:
    from rnnservice.ml import tasks  # the task modules import this one
    return tasks.get(task).codec_class(input or "tokens")


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
