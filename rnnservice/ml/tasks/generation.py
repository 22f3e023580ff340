"""Generation (1 vs N): a label, a prompt, or both in, a text out (a surname from its language, the start of a
sentence continued). A left-to-right language model whose condition, a label's embedding, sets the initial state
and joins every input; outputs sampled (temperature, top-k, top-p, seeded: `sampling`), greedy or by beam search
(`decoding`); scored by perplexity (and bits per character for a character model).

Training reads one document a line (each from <bos> to <eos>), or with `data.stream` the lines as one running text
cut into windows of `training.bptt` tokens, the state carried from window to window (truncated backpropagation
through time, as word-level language models on WikiText-2 are trained)."""
from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnservice.ml import sampling
from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, _lengths, _pad, batches
from rnnservice.ml.decoding import beam_decode
from rnnservice.ml.dropout import Dropout
from rnnservice.ml.errors import ConfigError, InputError, MLError
from rnnservice.ml.formats import GenerationExample
from rnnservice.ml.models import State, embedding, make_rnn
from rnnservice.ml.padded_rnn import run_unpadded, runs_padded
from rnnservice.ml.tasks.base import Task
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, Vocab, make_tokenizer, tokenizer_from_dict

ADAPTIVE_CUTOFFS = (2_000, 10_000, 50_000)   # adaptive softmax: the head's size and the clusters' bounds
EVAL_STREAMS = 10        # running text is scored as 10 parallel streams, as pytorch/examples' word_language_model


class GenerationCodec(Codec):
    task, vocab_name = "generation", "labels"

    def __init__(self, tokenizer: Tokenizer, words: Vocab, labels: Vocab):
        self.tokenizer, self.words, self.labels = tokenizer, words, labels      # labels: empty when unconditioned

    @classmethod
    def fit(cls, examples: Sequence[GenerationExample], config: RunConfig, dev: Sequence = ()) -> GenerationCodec:
        t = config.tokenizer
        tokenizer = make_tokenizer(t.kind, lowercase=t.lowercase, bpe_vocab_size=t.bpe_vocab_size)
        tokenizer.fit(ex.text for ex in examples)
        counts = Counter(tokenizer.normalize(w) for ex in examples for w in tokenizer.tokenize(ex.text))
        labelled = [ex for ex in examples if ex.label is not None]
        if labelled and config.data.stream:
            raise ConfigError("data.stream", "running text has no labels, but the training data has a label column; "
                                             "leave data.stream false to learn one labelled text a line")
        if labelled and len(labelled) != len(examples):
            unlabelled = next(ex for ex in examples if ex.label is None)
            raise MLError(f"line {unlabelled.line}: this text has no label, but others have; a generator is "
                          "conditioned on a label for every text or for none")
        labels = Counter(ex.label for ex in [*labelled, *dev] if ex.label is not None)
        return cls(tokenizer, Vocab.build(counts, min_freq=t.min_freq, max_size=t.max_vocab),
                   Vocab.build(labels, specials=False))

    def sizes(self) -> dict[str, int]:
        return {"words": len(self.words), "labels": len(self.labels)}

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text) if text else []

    def word_ids(self, text: str) -> list[int]:
        return self.words.encode(self.tokenizer.normalize(w) for w in self.tokens(text))

    def encode(self, example, *, max_length=None):
        """ids: <bos> and the tokens (at prediction, the prompt's); target: the tokens and <eos> (a step ahead)."""
        ids = self.word_ids(example.text)[:max_length]
        item = {"ids": torch.tensor([BOS_ID, *ids]), "target": torch.tensor([*ids, EOS_ID])}
        if len(self.labels) and example.label is not None:
            item["label"] = torch.tensor(self.labels.id(example.label))
        return item

    def collate(self, items):
        batch = {"ids": _pad([i["ids"] for i in items]), "target": _pad([i["target"] for i in items]),
                 "lengths": _lengths(items)}                                                    # (B, T), (B,)
        if "label" in items[0]:
            batch["labels"] = torch.stack([i["label"] for i in items])                          # (B,)
        return batch

    def detokenize(self, prompt: str, ids: Sequence[int]) -> tuple[str, list[str]]:
        """The prompt continued by the generated ids (no <eos>), and the generated tokens."""
        tokens = self.words.decode(ids)
        if self.tokenizer.kind == "bpe":            # a subword may continue the prompt's last word
            return self.tokenizer.detokenize([*self.tokens(prompt), *tokens]), tokens
        rest = self.tokenizer.detokenize(tokens)
        return prompt + (self.tokenizer.joiner if prompt and rest else "") + rest, tokens

    def to_dict(self):
        return {"task": self.task, "tokenizer": self.tokenizer.to_dict(), "words": self.words.to_dict(),
                "labels": self.labels.to_dict()}

    @classmethod
    def from_dict(cls, data):
        return cls(tokenizer_from_dict(data["tokenizer"]), Vocab.from_dict(data["words"]),
                   Vocab.from_dict(data["labels"]))


class LanguageModel(nn.Module):
    """Token embeddings (joined by the label's embedding) -> a one-direction RNN -> the next token's scores, through
    the embedding matrix when tied (projected to its width when the hidden size differs)."""

    def __init__(self, arch, vocab_size: int, num_labels: int = 0, word_dropout: float = 0.0):
        super().__init__()
        self.cell, self.layers, self.hidden = arch.cell, arch.num_layers, arch.hidden_dim
        tied = arch.tie_embeddings
        cutoffs = [c for c in ADAPTIVE_CUTOFFS if c < vocab_size - 1] if arch.adaptive_softmax else []
        # Frequent tokens in a full softmax, rarer ones in clusters of smaller vectors (Grave et al., 2017): a
        # 33,000-word vocabulary costs about a fifth of the full output layer. Vocabularies are most frequent first.
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(arch.embed_dim if tied else arch.hidden_dim, vocab_size,
                                                      cutoffs, div_value=4.0) if cutoffs else None
        # Tied with the adaptive softmax, a token's input vector is its output vector (Baevski & Auli, 2019): no
        # 13-million-number table of its own to update every step, and rare words learn from both ends.
        self.embed = None if tied and cutoffs else embedding(vocab_size, arch.embed_dim)
        condition = arch.condition if num_labels else ""
        self.label_embed = nn.Embedding(num_labels, arch.condition_dim) if num_labels else None
        self.joins = condition in ("input", "both")
        self.init = nn.Linear(arch.condition_dim, arch.hidden_dim * arch.num_layers) \
            if condition in ("init", "both") else None
        self.rnn = make_rnn(arch, arch.embed_dim + (arch.condition_dim if self.joins else 0), arch.hidden_dim,
                            arch.num_layers, bidirectional=False)
        self.project = nn.Linear(arch.hidden_dim, arch.embed_dim) if tied and arch.hidden_dim != arch.embed_dim \
            else None
        self.out = None if cutoffs else nn.Linear(arch.embed_dim if tied else arch.hidden_dim, vocab_size)
        if tied and not cutoffs:
            self.out.weight = self.embed.weight
        self.drop = Dropout(arch.dropout)
        self.word_dropout = word_dropout
        self.carried: State | None = None       # stream training: the state at the end of the last window

    def embed_tokens(self, ids: Tensor) -> Tensor:
        """(B, T) -> (B, T, E): the embedding, or the tied adaptive softmax's vectors: a head token's row of the
        head, a cluster token's vector times the cluster's projection (transposed: back to the head's width)."""
        if self.embed is not None:
            return self.embed(ids)
        adaptive = self.adaptive
        head = adaptive.head.weight                                                  # (shortlist + clusters, E)
        out = F.embedding(ids.clamp(max=adaptive.shortlist_size - 1), head)
        for (low, high), (projection, vectors) in zip(itertools.pairwise(adaptive.cutoffs), adaptive.tail,
                                                          strict=True):
            rows = (ids >= low) & (ids < high)
            if rows.any():
                tail = F.embedding(ids[rows] - low, vectors.weight) @ projection.weight   # (N, E)
                out = out.index_put((rows,), tail.to(out.dtype))
        return out

    @property
    def conditioned(self) -> bool:
        return self.label_embed is not None

    def initial_state(self, labels: Tensor | None) -> State | None:
        """From the label's embedding (None: the RNN's zeros)."""
        if self.init is None or labels is None:
            return None
        h = torch.tanh(self.init(self.label_embed(labels)))                          # (B, layers*H)
        h = h.view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()        # (layers, B, H)
        return (h, torch.zeros_like(h)) if self.cell in ("lstm", "peephole_lstm") else h

    def run(self, ids: Tensor, lengths: Tensor, labels: Tensor | None = None,
            state: State | None = None) -> tuple[Tensor, State]:
        """Scores of the next token after each step (B, T, V): logits, or log-probabilities with the adaptive
        softmax; and the state after each row's last step; `state` None starts from the label's (or zeros)."""
        features, state = self.features(ids, lengths, labels, state)
        if self.adaptive is not None:
            return self.adaptive.log_prob(features.flatten(0, 1)).view(*features.shape[:2], -1), state
        return self.out(features), state

    def nll(self, features: Tensor, target: Tensor) -> Tensor:
        """The negative log-likelihood of each target token that is not padding, flat (N,)."""
        flat, target = features.flatten(0, 1), target.flatten()
        keep = target != PAD_ID
        flat, target = flat[keep], target[keep]
        if self.adaptive is not None:
            return -self.adaptive(flat.float(), target).output
        return F.cross_entropy(self.out(flat).float(), target, reduction="none")

    def features(self, ids: Tensor, lengths: Tensor, labels: Tensor | None = None,
                 state: State | None = None) -> tuple[Tensor, State]:
        """What the output layer reads at each step (B, T, D), and the state after each row's last step."""
        x = self.embed_tokens(ids)                                                   # (B, T, E)
        if self.joins:
            x = torch.cat([x, self.label_embed(labels).unsqueeze(1).expand(-1, ids.size(1), -1)], dim=-1)
        x = self.drop(x)
        state = self.initial_state(labels) if state is None else state
        lengths = lengths.cpu()
        if lengths.min() == lengths.max() == ids.size(1):        # no padding: packing would only cost time
            out, state = run_unpadded(self.rnn, x, state) if runs_padded(self.rnn, x) else self.rnn(x, state)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        out = self.drop(out)                                                         # (B, T, H)
        return (self.project(out) if self.project is not None else out), state

    def forward(self, ids: Tensor, lengths: Tensor, target: Tensor | None = None, labels: Tensor | None = None,
                carry: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing. `carry` (stream training): true starts from the state the last window ended in."""
        if self.training and self.word_dropout:
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids > EOS_ID)
            ids = ids.masked_fill(drop, UNK_ID)
        state = self.carried if carry is not None and bool(carry) else None
        features, state = self.features(ids, lengths, labels, state)
        if carry is not None:
            self.carried = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return features, None if target is None else self.nll(features, target).mean()


@dataclass
class SampleOptions:
    max_length: int = 100        # generated tokens at most (<eos> included)
    temperature: float = 1.0     # 0: greedy, the most likely token each step
    top_k: int = 0               # > 0: draw among the k most likely tokens only
    top_p: float = 1.0           # < 1: draw among the fewest most likely tokens whose probability reaches it
    num_samples: int = 1         # samples per input (with beam search: the best hypotheses, at most beam_size)
    seed: int = -1               # 0 .. 2**32-1: the same seed draws the same samples; -1: a fresh seed, returned
    beam_size: int = 1           # > 1: beam search, the most likely texts (temperature, top_k, top_p, seed unused)


class _Prompted:
    """beam_decode's model interface over a language model: `encode` reads each prompt and keeps the scores of its
    next token as the "memory", which the first decoding step (fed <bos>, never generated later) returns; the
    labels ride along as the "mask"."""

    def __init__(self, model: LanguageModel, labels: Tensor | None):
        self.model, self.labels = model, labels

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        last, state = read_prompts(self.model, ids, lengths, self.labels)
        return last, self.labels if self.labels is not None else torch.zeros_like(lengths), state

    def decode(self, prev: Tensor, state: State, memory: Tensor, labels: Tensor) -> tuple[Tensor, State, None]:
        if bool((prev == BOS_ID).all()):
            return memory.unsqueeze(1), state, None
        logits, state = self.model.run(prev, torch.ones(prev.size(0), dtype=torch.long),
                                       labels if self.labels is not None else None, state)
        return logits, state, None

    @staticmethod
    def reorder(state: State, index: Tensor) -> State:
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


_SAMPLE = {"text": {"type": "string", "description": "The prompt continued by the generated tokens."},
           "tokens": {"type": "array", "items": {"type": "string"}, "description": "The generated tokens."},
           "logprob": {"type": "number", "description": "The model's log-probability of the generated tokens (at "
                                                        "temperature 1; <eos> included when the text ended)."}}


class GenerationTask(Task):
    name = "generation"
    input_markers = 1                     # the prompt's <bos>
    inputs = ("tokens",)
    metrics = ("perplexity",)
    lower_is_better = frozenset({"perplexity"})
    output_vocab = "labels"      # the conditions: a version lists them (empty for an unconditioned model)
    own_fields = ("architecture.tie_embeddings", "architecture.condition_dim", "architecture.condition",
                  "architecture.adaptive_softmax", "training.bptt", "data.stream")
    batch_inputs = ("ids", "lengths", "labels")
    options_class = SampleOptions
    defaults = {"tokens": {
        "tokenizer": {"kind": "chars"},
        "architecture": {"cell": "lstm", "embed_dim": 64, "hidden_dim": 256, "num_layers": 2, "dropout": 0.2,
                         "bidirectional": False, "tie_embeddings": False},
        "training": {"epochs": 20, "batch_size": 64, "lr": 3e-3, "patience": 3, "max_length": 256},
    }}

    def codec_class(self, input):
        return GenerationCodec

    def check_config(self, config):
        arch = config.architecture
        if arch.bidirectional:
            raise ConfigError("architecture.bidirectional", "a generator reads left to right: it must be false "
                                                            "for generation")

    def build_model(self, config, sizes):
        return LanguageModel(config.architecture, sizes["words"], sizes.get("labels", 0), config.training.word_dropout)

    def budget_sizes(self, config, data):
        from rnnservice.ml.budget import SPECIALS, largest_vocab
        return {"words": min(largest_vocab(config), data.tokens) + SPECIALS, "labels": data.labels}

    def budget_activations(self, config, sizes, data):
        from rnnservice.ml.budget import source_length
        steps = config.training.bptt if config.data.stream else source_length(config, data)
        return steps * 3 * sizes["words"]                        # the scores, their softmax and its gradient

    # -- training over running text ------------------------------------------------------------------------
    def train_batches(self, config, codec, examples):
        if not config.data.stream:
            return None
        cfg = config.training
        data = _streams(codec, examples, cfg.batch_size)                                # (B, N)
        starts = range(0, data.size(1) - 1, cfg.bptt)
        if not starts:
            raise MLError(f"data.stream: the training text is too short for {cfg.batch_size} streams "
                          "(training.batch_size); use a smaller batch")

        def epoch(_number: int):
            for start in starts:
                steps = min(cfg.bptt, data.size(1) - 1 - start)
                yield {"ids": data[:, start:start + steps], "target": data[:, start + 1:start + 1 + steps],
                       "lengths": torch.full((data.size(0),), steps), "carry": torch.tensor(start > 0)}
        return epoch, len(starts)

    @torch.inference_mode()
    def evaluate(self, model, codec, config, examples, device):
        """Perplexity: exp of the mean negative log-likelihood of each token (and each text's <eos>)."""
        labelled = sum(ex.label is not None for ex in examples)
        if model.conditioned and labelled < len(examples):
            raise MLError(f"the model is conditioned on labels ({', '.join(codec.labels.itos[:5])}, ...); every "
                          "text to score needs its label")
        total, count = torch.zeros((), dtype=torch.float64, device=device), 0
        if config.data.stream:
            data = _streams(codec, examples, EVAL_STREAMS).to(device)
            state = None
            for start in range(0, data.size(1) - 1, config.training.bptt):
                steps = min(config.training.bptt, data.size(1) - 1 - start)
                features, state = model.features(data[:, start:start + steps],
                                                 torch.full((data.size(0),), steps), state=state)
                target = data[:, start + 1:start + 1 + steps]
                total += model.nll(features, target).sum()
                count += target.numel()
        else:
            items = [codec.encode(ex) for ex in examples]
            for _, batch in batches(items, codec, batch_size=64):
                batch = {k: v.to(device) for k, v in batch.items()}
                features, _ = model.features(batch["ids"], batch["lengths"], batch.get("labels"))
                total += model.nll(features, batch["target"]).sum()
                count += int(batch["lengths"].sum())
        if not count:
            raise MLError(f"the text to score is too short: fewer than 2 tokens in each of its {EVAL_STREAMS} "
                          "streams (data.stream)")
        loss = total.item() / count
        per_char = {"bits_per_char": round(loss / math.log(2), 4)} if codec.tokenizer.kind == "chars" else {}
        return {**per_char, "perplexity": round(math.exp(min(loss, 700.0)), 4)}

    # -- prediction ----------------------------------------------------------------------------------------
    def check_options(self, opts):
        for name in ("max_length", "num_samples", "beam_size"):
            if getattr(opts, name) < 1:
                raise MLError(f"options.{name}: must be at least 1, not {getattr(opts, name)}")
        if not 0.0 <= opts.temperature <= 100.0:
            raise MLError(f"options.temperature: must be between 0 (greedy) and 100, not {opts.temperature!r}")
        if opts.top_k < 0:
            raise MLError(f"options.top_k: must be 0 (no cut) or more, not {opts.top_k}")
        if not 0.0 < opts.top_p <= 1.0:
            raise MLError(f"options.top_p: must be more than 0 and at most 1, not {opts.top_p!r}")
        if not -1 <= opts.seed < sampling.SEED_LIMIT:
            raise MLError(f"options.seed: must be between 0 and {sampling.SEED_LIMIT - 1} (or -1: a fresh seed), "
                          f"not {opts.seed}")
        if opts.beam_size > 1 and opts.num_samples > opts.beam_size:
            raise MLError(f"options.num_samples: beam search keeps at most beam_size ({opts.beam_size}) "
                          f"hypotheses, not {opts.num_samples}")

    def parse_input(self, codec, index, raw):
        if isinstance(raw, str):
            if not raw.strip():
                raise InputError(index, 'expected a non-empty prompt, or {"prompt": ..., "label": ...}')
            prompt, label = raw, None
        elif isinstance(raw, dict) and set(raw) <= {"prompt", "label"}:
            prompt, label = raw.get("prompt", ""), raw.get("label")
            if not isinstance(prompt, str):
                raise InputError(index, "prompt: expected a string")
            if label is not None and not isinstance(label, str):
                raise InputError(index, "label: expected a string")
        else:
            raise InputError(index, 'expected a prompt (a string) or {"prompt": "...", "label": "..."}, both keys '
                                    "optional")
        known = codec.labels.itos
        if label is None and known:
            raise InputError(index, f"the model is conditioned on a label; give one of {_listed(known)}")
        if label is not None and not known:
            raise InputError(index, "the model was trained without labels; give a prompt only")
        if label is not None and label not in codec.labels:
            raise InputError(index, f"label {label!r} is not one the model knows: {_listed(known)}")
        return GenerationExample(prompt, label)

    def warm_up_inputs(self, codec):
        return [{"label": codec.labels.itos[0]} if len(codec.labels) else {}], {"max_length": 2, "seed": 0}

    def predict_batch(self, model, codec, batch, examples, options):
        opts = options or SampleOptions()
        labels = batch.get("labels")
        if opts.beam_size > 1:
            nbest = beam_decode(_Prompted(model, labels), batch["ids"], batch["lengths"],
                                beam_size=opts.beam_size, max_length=opts.max_length, length_penalty=0.0,
                                n_best=opts.num_samples)
            return [{"samples": [_sample(codec, ex.text, h.tokens, h.score) for h in hyps]}
                    for ex, hyps in zip(examples, nbest, strict=True)]
        seeds = [opts.seed if opts.seed >= 0 else sampling.fresh_seed() for _ in examples]
        rows = sample(model, batch["ids"], batch["lengths"], labels, opts,
                      [sampling.sample_seed(s, j) for s in seeds for j in range(opts.num_samples)])
        n = opts.num_samples
        return [{"samples": [_sample(codec, ex.text, *rows[i * n + j]) for j in range(n)], "seed": seed}
                for i, (ex, seed) in enumerate(zip(examples, seeds, strict=True))]

    def score(self, examples, outputs):
        raise MLError("generation is scored by perplexity from the model (evaluate), not from samples")

    def input_schema(self, input):
        return {"oneOf": [
            {"type": "string", "minLength": 1, "description": "A prompt: the generated text continues it."},
            {"type": "object", "title": "GenerationInput", "additionalProperties": False,
             "description": "A prompt, a label, or both.",
             "properties": {
                 "prompt": {"type": "string", "description": "The start of the text (left out: from nothing)."},
                 "label": {"type": "string", "minLength": 1,
                           "description": "The condition (a surname's language), one of the version's labels; "
                                          "required by a model trained with labels."}}},
        ]}

    def output_schema(self):
        sample_schema = {"type": "object", "required": list(_SAMPLE), "properties": _SAMPLE}
        return {"type": "object", "title": "GenerationOutput", "required": ["samples"], "properties": {
            "samples": {"type": "array", "minItems": 1, "items": sample_schema,
                        "description": "options.num_samples samples (beam search: the best hypotheses, best first)."},
            "seed": {"type": "integer", "minimum": 0, "description": "The seed the samples were drawn with (not "
                                                                     "for beam search): give it to draw them again."}}}


def read_prompts(model: LanguageModel, ids: Tensor, lengths: Tensor,
                 labels: Tensor | None) -> tuple[Tensor, State]:
    """The scores of the token after each prompt (B, V) and the state there. A text is at least one token long:
    <eos> cannot come first after an empty prompt (training texts are never empty, but a beam search that ranks by
    probability would prefer the empty text)."""
    logits, state = model.run(ids, lengths, labels)
    lengths = lengths.to(ids.device)
    last = logits[torch.arange(ids.size(0), device=ids.device), lengths - 1].float()            # (B, V)
    last[:, EOS_ID] = last[:, EOS_ID].masked_fill(lengths == 1, float("-inf"))
    return last, state


def sample(model: LanguageModel, ids: Tensor, lengths: Tensor, labels: Tensor | None, opts: SampleOptions,
           seeds: Sequence[int]) -> list[tuple[list[int], float]]:
    """(generated ids without <eos>, log-probability) for each of the B inputs' num_samples rows, input by input;
    row r draws with its own seed seeds[r]. Temperature 0 takes the most likely token each step."""
    n, device = opts.num_samples, ids.device
    last, state = read_prompts(model, ids, lengths, labels)                              # (B, V)
    expand = torch.arange(ids.size(0), device=device).repeat_interleave(n)               # (N,)
    last, state = last[expand], _Prompted.reorder(state, expand)
    labels = labels[expand] if labels is not None else None
    uniform = sampling.uniforms(seeds, opts.max_length)                                  # (N, L)
    done = torch.zeros(len(expand), dtype=torch.bool, device=device)
    total = torch.zeros(len(expand), dtype=torch.float64, device=device)
    steps = []
    for step in range(opts.max_length):
        scores = last.float()
        scores[:, [PAD_ID, UNK_ID, BOS_ID]] = float("-inf")        # never generated
        logp = scores.log_softmax(-1)
        if opts.temperature == 0:
            token = logp.argmax(-1)
        else:
            token = sampling.draw(sampling.filtered_logprobs(scores, temperature=opts.temperature,
                                                             top_k=opts.top_k, top_p=opts.top_p),
                                 uniform[:, step].contiguous())
        total += logp.gather(1, token.unsqueeze(1)).squeeze(1).double().masked_fill(done, 0.0)
        token = token.masked_fill(done, PAD_ID)
        steps.append(token)
        done = done | (token == EOS_ID)
        if bool(done.all()) or step + 1 == opts.max_length:
            break
        out, state = model.run(token.unsqueeze(1), torch.ones(len(token), dtype=torch.long), labels, state)
        last = out[:, 0]
    rows = torch.stack(steps, 1).tolist()
    results = []
    for row, logprob in zip(rows, total.tolist(), strict=True):
        row = row[:row.index(PAD_ID)] if PAD_ID in row else row
        results.append((row[:row.index(EOS_ID)] if EOS_ID in row else row, logprob))
    return results


def _sample(codec: GenerationCodec, prompt: str, ids: Sequence[int], logprob: float) -> dict[str, Any]:
    text, tokens = codec.detokenize(prompt, ids)
    return {"text": text, "tokens": tokens, "logprob": round(logprob, 4)}


def _streams(codec: GenerationCodec, examples: Sequence[GenerationExample], count: int) -> Tensor:
    """Running text as `count` rows (count, N): every text's ids and <eos>, one after another, cut into `count`
    equal pieces (what does not fill the last is dropped)."""
    ids = [i for ex in examples for i in (*codec.word_ids(ex.text), EOS_ID)]
    width = len(ids) // count
    return torch.tensor(ids[:width * count], dtype=torch.long).view(count, width)


def _listed(labels: Sequence[str]) -> str:
    return ", ".join(labels[:30]) + (f", ... ({len(labels)} labels)" if len(labels) > 30 else "")


TASK = GenerationTask()
