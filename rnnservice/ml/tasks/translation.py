"""Translation (N vs M): a text in, a text out (German to English). An attention encoder-decoder; outputs by
batched greedy or beam search (`decoding`), scored by BLEU and chrF."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, _lengths, _pad
from rnnservice.ml.decoding import beam_decode, greedy_decode
from rnnservice.ml.dropout import Dropout
from rnnservice.ml.errors import MLError
from rnnservice.ml.formats import TranslationExample
from rnnservice.ml.metrics import bleu, chrf
from rnnservice.ml.models import Encoder, State, embedding, make_rnn, padding_mask
from rnnservice.ml.tasks.base import Task
from rnnservice.ml.tasks.inputs import TEXT_SCHEMA, text_input
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID, Tokenizer, Vocab, make_tokenizer, tokenizer_from_dict


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

    def sizes(self) -> dict[str, int]:
        return {"source": len(self.source), "target": len(self.target)}

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


class Seq2Seq(nn.Module):
    """Encoder-decoder with global (Luong) attention; the decoder RNN runs over the whole target at once
    during teacher forcing, so training uses the fused RNN kernel instead of a Python loop per step."""

    def __init__(self, arch, source_size: int, target_size: int, word_dropout: float = 0.0,
                 label_smoothing: float = 0.0):
        super().__init__()
        self.encoder = Encoder(arch, source_size, word_dropout=word_dropout)
        hidden = self.encoder.out_dim
        self.layers, self.cell = arch.decoder_layers, arch.cell
        self.bridge = nn.Linear(self.encoder.out_dim, hidden * arch.decoder_layers)
        self.embed = embedding(target_size, arch.embed_dim)
        self.rnn = make_rnn(arch, arch.embed_dim, hidden, arch.decoder_layers, bidirectional=False)
        self.score = nn.Linear(hidden, self.encoder.out_dim, bias=False)         # "general" attention
        self.combine = nn.Linear(hidden + self.encoder.out_dim, arch.embed_dim)
        self.out = nn.Linear(arch.embed_dim, target_size)
        if arch.tie_embeddings:
            self.out.weight = self.embed.weight
        self.drop = Dropout(arch.dropout)
        self.label_smoothing = label_smoothing

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        memory, final = self.encoder(ids, lengths)                               # (B, S, M), (B, M)
        h = torch.tanh(self.bridge(final)).view(-1, self.layers, self.rnn.hidden_size)
        h = h.transpose(0, 1).contiguous()                                        # (layers, B, H)
        state = (h, torch.zeros_like(h)) if self.cell in ("lstm", "peephole_lstm") else h
        return memory, padding_mask(ids), state

    def decode(self, prev: Tensor, state: State, memory: Tensor, mask: Tensor) -> tuple[Tensor, State, Tensor]:
        """Target ids so far (B, T) -> logits (B, T, V), the new state, attention (B, T, S)."""
        out, state = self.rnn(self.drop(self.embed(prev)), state)                # (B, T, H)
        scores = torch.bmm(self.score(out), memory.transpose(1, 2))              # (B, T, S)
        attn = scores.masked_fill(~mask.unsqueeze(1), -1e4).softmax(-1)
        context = torch.bmm(attn, memory)                                        # (B, T, M)
        combined = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))   # (B, T, E)
        return self.out(self.drop(combined)), state, attn

    def forward(self, ids: Tensor, lengths: Tensor, target: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        memory, mask, state = self.encode(ids, lengths)
        logits, _, _ = self.decode(target[:, :-1], state, memory, mask)          # (B, T, V): teacher forcing
        loss = F.cross_entropy(logits.flatten(0, 1).float(), target[:, 1:].flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing if self.training else 0.0)
        return logits, loss

    @staticmethod
    def reorder(state: State, index: Tensor) -> State:
        """Select batch rows of a decoder state (beam search keeps the surviving hypotheses)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


@dataclass
class DecodeOptions:
    beam_size: int = 5
    max_length: int = 0          # 0: twice the source length plus 10, at most `length_cap`
    length_penalty: float = 1.0
    n_best: int = 1
    length_cap: int = 256


_TEXT_OUT = {"translation": {"type": "string", "description": "The translated text."},
             "tokens": {"type": "array", "items": {"type": "string"}, "description": "The output tokens."},
             "score": {"type": "number", "description": "The hypothesis' length-normalised log-probability."}}


class TranslationTask(Task):
    name = "translation"
    input_markers = 1                     # the source's <eos>
    inputs = ("tokens",)
    metrics = ("bleu", "chrf")
    output_vocab = ""            # open outputs: a version records no labels
    own_fields = ("architecture.decoder_layers", "architecture.tie_embeddings", "training.eval_beam_size")
    options_class = DecodeOptions
    defaults = {"tokens": {
        "tokenizer": {"kind": "bpe", "bpe_vocab_size": 8000},
        "architecture": {"cell": "gru", "embed_dim": 256, "hidden_dim": 256, "num_layers": 1,
                         "dropout": 0.3, "decoder_layers": 1},
        "training": {"epochs": 12, "batch_size": 64, "lr": 2e-3, "label_smoothing": 0.1, "patience": 3,
                     "max_length": 100},
    }}

    def codec_class(self, input):
        return TranslationCodec

    def build_model(self, config, sizes):
        return Seq2Seq(config.architecture, sizes["source"], sizes["target"], config.training.word_dropout,
                       config.training.label_smoothing)

    def budget_sizes(self, config, data):
        from rnnservice.ml.budget import SPECIALS, largest_vocab
        largest = largest_vocab(config)
        return {"source": min(largest, data.tokens) + SPECIALS, "target": min(largest, data.target_tokens) + SPECIALS}

    def budget_activations(self, config, sizes, data):
        from rnnservice.ml.budget import GATES, source_length
        arch = config.architecture
        target = min(config.training.max_length, data.target_length) + 2
        hidden = (2 if arch.bidirectional else 1) * arch.hidden_dim
        per_target = (2 * arch.embed_dim + arch.decoder_layers * hidden * (GATES[arch.cell] + 2)
                      + 2 * source_length(config, data) + 2 * hidden + 2 * arch.embed_dim + 3 * sizes["target"])
        return target * per_target

    def dev_options(self, config):
        return {"beam_size": config.training.eval_beam_size}

    def check_options(self, opts):
        if opts.beam_size < 1 or opts.n_best < 1 or opts.max_length < 0 or opts.length_cap < 1:
            raise MLError("options: beam_size, n_best and length_cap must be at least 1, max_length at least 0")
        if not 0.0 <= opts.length_penalty <= 10.0:     # larger exponents overflow the length normalization
            raise MLError(f"options.length_penalty: must be between 0 and 10, not {opts.length_penalty!r}")

    def parse_input(self, codec, index, raw):
        return TranslationExample(text_input(index, raw)[0], None)

    def warm_up_inputs(self, codec):
        return ["warm up"], {"beam_size": 2, "length_cap": 4}

    def predict_batch(self, model, codec, batch, examples, options):
        opts = options or DecodeOptions()
        # One cap per input, from its own length: an output must not depend on what it was batched with.
        lengths = batch["lengths"].cpu()
        max_length = (lengths * 2 + 10 if not opts.max_length else torch.full_like(lengths, opts.max_length))
        max_length = max_length.clamp(max=opts.length_cap)
        if opts.beam_size == 1 and opts.n_best == 1:
            nbest = [[h] for h in greedy_decode(model, batch["ids"], batch["lengths"], max_length=max_length,
                                                length_penalty=opts.length_penalty)]
        else:
            nbest = beam_decode(model, batch["ids"], batch["lengths"], beam_size=opts.beam_size,
                                max_length=max_length, length_penalty=opts.length_penalty,
                                n_best=min(opts.n_best, opts.beam_size))
        results = []
        for hyps in nbest:
            shaped = []
            for h in hyps:
                text, tokens = codec.detokenize(h.tokens)
                shaped.append({"translation": text, "tokens": tokens, "score": round(h.score, 6)})
            results.append({**shaped[0], "n_best": shaped} if opts.n_best > 1 else shaped[0])
        return results

    def score(self, examples, outputs):
        references, hypotheses = [ex.target for ex in examples], [o["translation"] for o in outputs]
        return {"bleu": bleu(references, hypotheses), "chrf": chrf(references, hypotheses)}

    def input_schema(self, input):
        return TEXT_SCHEMA

    def output_schema(self):
        hypothesis = {"type": "object", "required": list(_TEXT_OUT), "properties": _TEXT_OUT}
        return {"type": "object", "title": "TranslationOutput", "required": list(_TEXT_OUT),
                "properties": {**_TEXT_OUT, "n_best": {"type": "array", "items": hypothesis,
                                                       "description": "The best hypotheses, when n_best > 1."}}}


TASK = TranslationTask()
