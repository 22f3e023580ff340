"""Tagging (N vs N): one label per token, or per frame of a numeric series (part-of-speech tags, named entities in
BIO, a phase of each heartbeat sample). A linear head over the encoder's states, with an optional CRF."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchcrf import CRF

from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import IGNORE, Codec, _char_ids, _char_vocab, _collate_chars, _lengths, _pad
from rnnservice.ml.formats import TaggingExample
from rnnservice.ml.metrics import accuracy, entity_f1, is_bio, macro_f1
from rnnservice.ml.models import Encoder, inputs_of, length_mask
from rnnservice.ml.series import SeriesCodec
from rnnservice.ml.tasks.base import Task
from rnnservice.ml.tasks.inputs import SERIES_SCHEMA, TEXT_SCHEMA, series_input, text_input
from rnnservice.ml.text import Tokenizer, Vocab, make_tokenizer, tokenizer_from_dict


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

    def sizes(self) -> dict[str, int]:
        return {"words": len(self.words), "tags": len(self.tags), **({"chars": len(self.chars)} if self.chars else {})}

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


class SeriesTaggingCodec(SeriesCodec):
    task, vocab_name = "tagging", "tags"

    @property
    def tags(self) -> Vocab:
        return self.outputs

    @staticmethod
    def _gold(examples, dev):
        return Counter(t for ex in [*examples, *dev] for t in ex.tags)

    def encode(self, example, *, max_length=None):
        item = super().encode(example, max_length=max_length)
        if example.tags is not None:
            item["tags"] = torch.tensor(self.tags.encode(example.tags[:max_length]))
        return item

    def collate(self, items):
        batch = super().collate(items)
        if "tags" in items[0]:
            batch["tags"] = _pad([i["tags"] for i in items], IGNORE)                    # (B, T)
        return batch


class Tagger(nn.Module):
    """One label per token. Targets at padded positions are -100 and cost nothing."""

    def __init__(self, arch, vocab_size: int, num_tags: int, num_chars: int = 0, word_dropout: float = 0.0,
                 features: int = 0):
        super().__init__()
        self.encoder = Encoder(arch, vocab_size, num_chars, word_dropout, features)
        self.head = nn.Linear(self.encoder.out_dim, num_tags)
        self.crf = CRF(num_tags, batch_first=True) if arch.crf else None

    def forward(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                tags: Tensor | None = None, values: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Token `ids` (B, T), or numeric `values` (B, T, F), with their `lengths` (B,)."""
        logits = self.head(self.encoder(inputs_of(ids, values), lengths, chars)[0])  # (B, T, C)
        if tags is None:
            return logits, None
        if self.crf is not None:
            mask = tags != IGNORE
            nll = -self.crf(logits.float(), tags.masked_fill(~mask, 0), mask=mask, reduction="token_mean")
            return logits, nll
        return logits, F.cross_entropy(logits.flatten(0, 1).float(), tags.flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def predict(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                values: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Best tag ids (B, T) and the model's probability of each (B, T); padding is 0."""
        logits, _ = self(ids, lengths, chars, values=values)
        mask = length_mask(lengths, logits.size(1))
        if self.crf is None:
            probs = logits.float().softmax(-1)
            scores, best = probs.max(-1)
            return best * mask, scores * mask
        paths = self.crf.decode(logits.float(), mask=mask)
        best = torch.zeros(mask.shape, dtype=torch.long, device=logits.device)
        for row, path in enumerate(paths):
            best[row, :len(path)] = torch.tensor(path, device=logits.device)
        marginals = crf_marginals(self.crf, logits.float(), mask)                # (B, T, C)
        return best, marginals.gather(-1, best.unsqueeze(-1)).squeeze(-1) * mask


def crf_marginals(crf: CRF, emissions: Tensor, mask: Tensor) -> Tensor:
    """P(tag at t | sentence) by forward-backward, so a CRF tagger reports a true per-token probability."""
    B, T, C = emissions.shape
    trans = crf.transitions                                                       # (C from, C to)
    alpha = [crf.start_transitions + emissions[:, 0]]                             # each (B, C)
    for t in range(1, T):
        step = torch.logsumexp(alpha[-1].unsqueeze(2) + trans, dim=1) + emissions[:, t]
        alpha.append(torch.where(mask[:, t, None], step, alpha[-1]))
    beta = [None] * T
    last = mask.sum(1) - 1                                                        # (B,) index of last token
    end = crf.end_transitions.expand(B, C)
    beta[T - 1] = torch.where((last == T - 1)[:, None], end, torch.zeros_like(end))
    for t in range(T - 2, -1, -1):
        step = torch.logsumexp(trans + (emissions[:, t + 1] + beta[t + 1]).unsqueeze(1), dim=2)
        beta[t] = torch.where(mask[:, t + 1, None], step, torch.where((last == t)[:, None], end, beta[t + 1]))
    a, b = torch.stack(alpha, 1), torch.stack(beta, 1)                            # (B, T, C)
    return (a + b - torch.logsumexp(a + b, dim=-1, keepdim=True)).exp()


def tagging_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Token accuracy and macro-F1 over tags, and entity F1 when the gold tags are BIO/IOB2."""
    flat_gold = [t for s in gold for t in s]
    flat_pred = [t for s in predicted for t in s]
    scores = {"accuracy": accuracy(flat_gold, flat_pred), "macro_f1": macro_f1(flat_gold, flat_pred)}
    if is_bio(flat_gold):
        scores["entity_f1"] = entity_f1(gold, predicted)
    return scores


_SCORES = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
           "description": "The model's probability of each tag."}


class TaggingTask(Task):
    name = "tagging"
    inputs = ("tokens", "values")
    metrics = ("accuracy", "macro_f1", "entity_f1")
    output_vocab = "tags"
    own_fields = ("architecture.crf",)
    defaults = {
        "tokens": {
            "tokenizer": {"kind": "words", "lowercase": True},     # training files come tokenized already
            "architecture": {"cell": "lstm", "embed_dim": 100, "hidden_dim": 256, "num_layers": 2,
                             "dropout": 0.33, "char_dim": 64},
            "training": {"epochs": 15, "batch_size": 16, "lr": 3e-3, "word_dropout": 0.05, "patience": 4},
        },
        # Numeric series: smaller recurrent layers over a convolution front end, longer training, no cut.
        "values": {
            "architecture": {"cell": "lstm", "embed_dim": 64, "hidden_dim": 128, "num_layers": 2, "dropout": 0.2,
                             "input_conv": 5},
            "training": {"epochs": 40, "batch_size": 32, "lr": 3e-3, "patience": 10, "max_length": 10_000},
        },
    }

    def codec_class(self, input):
        return SeriesTaggingCodec if input == "values" else TaggingCodec

    def prepare(self, config, train):
        """A CRF when the tags are BIO/IOB2 (unless the config says), and entity F1 as their default metric."""
        bio = is_bio([t for ex in train for t in ex.tags])
        if config.architecture.crf is None:
            config = dataclasses.replace(config, architecture=dataclasses.replace(config.architecture, crf=bio))
        return config, config.training.metric or ("entity_f1" if bio else "accuracy")

    def build_model(self, config, sizes):
        return Tagger(config.architecture, sizes.get("words", 0), sizes["tags"], sizes.get("chars", 0),
                      config.training.word_dropout, features=sizes.get("features", 0))

    def budget_sizes(self, config, data):
        from rnnservice.ml.budget import text_sizes
        return {**text_sizes(config, data), "tags": max(1, data.labels)}

    def budget_activations(self, config, sizes, data):
        from rnnservice.ml.budget import source_length
        return 3 * sizes["tags"] * source_length(config, data)

    def parse_input(self, codec, index, raw):
        if codec.input == "values":
            return series_input(index, raw, codec.features)
        text, tokens = text_input(index, raw)
        return TaggingExample(tokens or codec.tokenizer.tokenize(text), None)

    def warm_up_inputs(self, codec):
        if codec.input == "values":
            return [{"values": [[0.0] * codec.features] * 2}], {}
        return ["warm up"], {}

    def predict_batch(self, model, codec, batch, examples, options):
        best, scores = model.predict(**batch)                                        # (B, T), (B, T)
        tags, probs, lengths = best.tolist(), scores.float().tolist(), batch["lengths"].tolist()
        if codec.input == "values":     # one tag per frame; the frames themselves are not echoed back
            return [{"tags": codec.tags.decode(tags[r][:n]), "scores": [round(p, 6) for p in probs[r][:n]]}
                    for r, n in enumerate(lengths)]
        return [{"tokens": list(ex.tokens), "tags": codec.tags.decode(tags[r][:len(ex.tokens)]),
                 "scores": [round(p, 6) for p in probs[r][:len(ex.tokens)]]} for r, ex in enumerate(examples)]

    def score(self, examples, outputs):
        return tagging_metrics([ex.tags for ex in examples], [o["tags"] for o in outputs])

    def input_schema(self, input):
        return SERIES_SCHEMA if input == "values" else TEXT_SCHEMA

    def output_schema(self):
        return {"type": "object", "title": "TaggingOutput", "required": ["tags", "scores"],
                "properties": {"tokens": {"type": "array", "items": {"type": "string"},
                                          "description": "The tokens tagged (text input only)."},
                               "tags": {"type": "array", "items": {"type": "string"},
                                        "description": "One tag a token, or a frame."},
                               "scores": _SCORES}}


TASK = TaggingTask()
