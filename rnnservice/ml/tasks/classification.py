"""Classification (N vs 1): one label per text or per numeric series (sentiment, a name's language, a heartbeat's
class, a speaker). The encoder's states pooled (last state, mean, max or attention) into a linear layer."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, _char_ids, _char_vocab, _collate_chars, _lengths, _pad
from rnnservice.ml.dropout import Dropout
from rnnservice.ml.formats import ClassificationExample
from rnnservice.ml.metrics import accuracy, macro_f1
from rnnservice.ml.models import Encoder, inputs_of, length_mask
from rnnservice.ml.series import SeriesCodec
from rnnservice.ml.tasks.base import Task
from rnnservice.ml.tasks.inputs import SERIES_SCHEMA, TEXT_SCHEMA, series_input, text_input
from rnnservice.ml.text import Tokenizer, Vocab, make_tokenizer, tokenizer_from_dict


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

    def sizes(self) -> dict[str, int]:
        return {"words": len(self.words), "labels": len(self.labels),
                **({"chars": len(self.chars)} if self.chars else {})}

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


class SeriesClassificationCodec(SeriesCodec):
    task, vocab_name = "classification", "labels"

    @property
    def labels(self) -> Vocab:
        return self.outputs

    @staticmethod
    def _gold(examples, dev):
        return Counter(ex.label for ex in [*examples, *dev])       # a dev-only label must still be scorable

    def encode(self, example, *, max_length=None):
        item = super().encode(example, max_length=max_length)
        if example.label is not None:
            item["label"] = torch.tensor(self.labels.id(example.label))
        return item

    def collate(self, items):
        batch = super().collate(items)
        if "label" in items[0]:
            batch["labels"] = torch.stack([i["label"] for i in items])                 # (B,)
        return batch


class ConvBranch(nn.Module):
    """The fully convolutional network of Wang et al. (2017) that LSTM-FCN (Karim et al., 2018) runs beside its
    LSTM: three blocks of convolution (7, 5 and 3 steps wide; the paper's 8 would pad unevenly), batch norm and
    ReLU over the frames, averaged over time, with MLSTM-FCN's squeeze-and-excite gates (Hu et al., 2018) after
    the first two blocks. Padded steps are zeroed after each block and left out of the averages, so a series gets
    the same vector alone as in a padded batch."""

    def __init__(self, features: int, filters: int, dropout: float = 0.0, noise: float = 0.0):
        super().__init__()
        self.drop = Dropout(dropout) if dropout else None          # on the averaged vector, in training only
        self.noise = noise                                         # Gaussian, on the frames, in training only
        widths = [(features, filters, 7), (filters, 2 * filters, 5), (2 * filters, filters, 3)]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(i, o, w, padding="same"), nn.BatchNorm1d(o), nn.ReLU()) for i, o, w in widths)
        self.excite = nn.ModuleList(
            nn.Sequential(nn.Linear(o, max(1, o // 16)), nn.ReLU(), nn.Linear(max(1, o // 16), o), nn.Sigmoid())
            for _, o, _ in widths[:2])
        self.out_dim = filters

    def forward(self, values: Tensor, lengths: Tensor) -> Tensor:
        mask = length_mask(lengths.to(values.device), values.size(1)).unsqueeze(1)      # (B, 1, T)
        if self.training and self.noise:
            values = values + self.noise * torch.randn_like(values)
        x = values.transpose(1, 2)                                                       # (B, F, T)
        for i, block in enumerate(self.blocks):
            x = block(x) * mask                                                          # (B, C, T)
            if i < len(self.excite):                    # each channel scaled by a gate on all channels' means
                x = x * self.excite[i](x.sum(2) / mask.sum(2)).unsqueeze(2)
        x = x.sum(2) / mask.sum(2)                                                       # (B, C)
        return x if self.drop is None else self.drop(x)


class Classifier(nn.Module):
    """One label per text: encoder states pooled (last state, mean, max or attention) into a linear layer; for
    numeric series optionally concatenated with a convolutional branch's vector (`architecture.fcn`)."""

    def __init__(self, arch, vocab_size: int, num_labels: int, num_chars: int = 0, word_dropout: float = 0.0,
                 features: int = 0, label_smoothing: float = 0.0):
        super().__init__()
        self.encoder = Encoder(arch, vocab_size, num_chars, word_dropout, features)
        self.label_smoothing = label_smoothing                    # training loss only; dev and test losses are plain
        self.pooling = arch.pooling
        self.attention = nn.Linear(self.encoder.out_dim, 1) if arch.pooling == "attention" else None
        self.fcn = ConvBranch(features, arch.fcn, arch.fcn_dropout, arch.fcn_noise) if features and arch.fcn else None
        self.head = nn.Linear(self.encoder.out_dim + (self.fcn.out_dim if self.fcn else 0), num_labels)

    def forward(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                labels: Tensor | None = None, values: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Token `ids` (B, T), or numeric `values` (B, T, F), with their `lengths` (B,)."""
        states, final = self.encoder(inputs_of(ids, values), lengths, chars)     # (B, T, D), (B, D)
        mask = length_mask(lengths, states.size(1)).unsqueeze(-1)                 # (B, T, 1)
        if self.pooling == "last":
            pooled = final
        elif self.pooling == "mean":
            pooled = (states * mask).sum(1) / mask.sum(1)
        elif self.pooling == "max":
            pooled = states.masked_fill(~mask, -1e4).max(1).values
        else:
            weights = self.attention(states).masked_fill(~mask, -1e4).softmax(1)  # (B, T, 1)
            pooled = (weights * states).sum(1)
        if self.fcn is not None:
            pooled = torch.cat([pooled, self.fcn(values, lengths)], dim=-1)              # (B, D + C)
        logits = self.head(pooled)                                                # (B, K)
        loss = None if labels is None else F.cross_entropy(
            logits.float(), labels, label_smoothing=self.label_smoothing if self.training else 0.0)
        return logits, loss


class ClassifierEnsemble(nn.Module):
    """`training.ensemble` classifiers, each trained alone with a seed of its own (the pipeline trains them one
    after another, each with early stopping on the dev split), answering with the mean of their probabilities, as
    InceptionTime's five. Its logits are the log of that mean, so softmax gives it back and the task's decoding,
    scoring and dev loss apply unchanged."""

    def __init__(self, members: Sequence[Classifier]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, labels: Tensor | None = None, **batch: Tensor) -> tuple[Tensor, Tensor | None]:
        log_probs = torch.stack([member(**batch)[0].float().log_softmax(-1) for member in self.members])  # (M, B, K)
        logits = torch.logsumexp(log_probs, 0) - math.log(len(self.members))                              # (B, K)
        return logits, None if labels is None else F.nll_loss(logits, labels)


class ClassificationTask(Task):
    name = "classification"
    inputs = ("tokens", "values")
    metrics = ("accuracy", "macro_f1")
    output_vocab = "labels"
    own_fields = ("architecture.pooling", "architecture.fcn", "architecture.fcn_dropout", "architecture.fcn_noise",
                  "training.ensemble")
    defaults = {
        "tokens": {
            "tokenizer": {"kind": "words", "lowercase": True},
            "architecture": {"cell": "lstm", "embed_dim": 128, "hidden_dim": 256, "num_layers": 1,
                             "dropout": 0.4, "pooling": "max"},
            "training": {"epochs": 10, "batch_size": 64, "lr": 2e-3, "word_dropout": 0.05, "patience": 3},
        },
        # Numeric series (heartbeats, speech frames, sensors): no vocabulary to learn, few examples, long inputs.
        # LSTM-FCN: a small recurrent layer over a convolution front end beside a fully convolutional branch (the
        # branch took JapaneseVowels' 5-fold CV from 95.6 to 98.9 and BasicMotions' from 95 to 100, and is faster
        # than the 2-layer LSTM of 128 it replaced); longer training with more patience, no cut; and five of them,
        # as InceptionTime: on data sets of hundreds of series the seed moves a single model's score by more than
        # any other lever, and the ensemble took ECG5000's 5-fold CV from 94.6 to 95.0 (bench/RESULTS.md).
        "values": {
            "architecture": {"cell": "lstm", "embed_dim": 64, "hidden_dim": 64, "num_layers": 1, "dropout": 0.3,
                             "pooling": "max", "input_conv": 5, "fcn": 128},
            "training": {"epochs": 60, "batch_size": 16, "lr": 3e-3, "patience": 15, "max_length": 10_000,
                         "ensemble": 5},
        },
    }

    def codec_class(self, input):
        return SeriesClassificationCodec if input == "values" else ClassificationCodec

    def build_model(self, config, sizes):
        members = [Classifier(config.architecture, sizes.get("words", 0), sizes["labels"], sizes.get("chars", 0),
                              config.training.word_dropout, features=sizes.get("features", 0),
                              label_smoothing=config.training.label_smoothing)
                   for _ in range(config.training.ensemble)]
        return members[0] if len(members) == 1 else ClassifierEnsemble(members)

    def budget_sizes(self, config, data):
        from rnnservice.ml.budget import text_sizes
        return {**text_sizes(config, data), "labels": max(1, data.labels)}

    def budget_activations(self, config, sizes, data):
        from rnnservice.ml.budget import source_length
        # The convolutional branch keeps each block's convolution, batch norm and ReLU outputs (4 * fcn channels).
        return 3 * 4 * config.architecture.fcn * source_length(config, data) if sizes.get("features") else 0

    def parse_input(self, codec, index, raw):
        if codec.input == "values":
            return series_input(index, raw, codec.features)
        text, tokens = text_input(index, raw)
        return ClassificationExample(text, None, tokens)

    def warm_up_inputs(self, codec):
        if codec.input == "values":
            return [{"values": [[0.0] * codec.features] * 2}], {}
        return ["warm up"], {}

    def predict_batch(self, model, codec, batch, examples, options):
        logits, _ = model(**batch)
        probs = logits.float().softmax(-1).tolist()                                   # (B, K)
        names = codec.labels.itos
        return [{"label": names[max(range(len(p)), key=p.__getitem__)],
                 "probabilities": {n: round(v, 6) for n, v in zip(names, p, strict=True)}} for p in probs]

    def score(self, examples, outputs):
        gold, predicted = [ex.label for ex in examples], [o["label"] for o in outputs]
        return {"accuracy": accuracy(gold, predicted), "macro_f1": macro_f1(gold, predicted)}

    def dev_loss(self, examples, outputs):
        """Mean -log p(gold label): training uses it to choose between epochs of equal dev accuracy, which small
        dev splits often have."""
        if not outputs:
            return None
        return sum(-math.log(max(out["probabilities"].get(ex.label, 0.0), 1e-6))
                   for ex, out in zip(examples, outputs, strict=True)) / len(outputs)

    def input_schema(self, input):
        return SERIES_SCHEMA if input == "values" else TEXT_SCHEMA

    def output_schema(self):
        return {"type": "object", "title": "ClassificationOutput", "required": ["label", "probabilities"],
                "properties": {"label": {"type": "string", "description": "The most probable label."},
                               "probabilities": {"type": "object", "description": "Each label's probability.",
                                                 "additionalProperties": {"type": "number", "minimum": 0,
                                                                          "maximum": 1}}}}


TASK = ClassificationTask()
