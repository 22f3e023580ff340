"""The CUDA paths: training on `cuda` with mixed precision, packed sequences, and CPU-saved weights on GPU."""
from __future__ import annotations

import pytest
import torch

from rnnservice.ml.models import Encoder
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_trains_on_cuda_with_mixed_precision(task, tmp_path, tiny_config, examples):
    config = tiny_config(task, training={"amp": True})
    result = train(config, examples(task), device="cuda")
    assert all(torch.isfinite(torch.tensor(e.train_loss)) for e in result.fit.history)
    assert next(result.model.parameters()).device.type == "cuda"
    result.save(tmp_path / "v1")
    on_cpu = Predictor.load(tmp_path / "v1", device="cpu")
    on_gpu = Predictor.load(tmp_path / "v1", device="cuda")
    inputs = ["Peter Blackburn visited Paris .", "A great movie, really."]
    assert [o.keys() for o in on_cpu.predict(inputs)] == [o.keys() for o in on_gpu.predict(inputs)]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "peephole_lstm", "jordan", "ctrnn"])
def test_it_packs_padding_away_on_cuda(cell, tiny_config):
    config = tiny_config("classification", architecture={"cell": cell, "num_layers": 2, "bidirectional": True})
    encoder = Encoder(config.architecture, vocab_size=30).cuda().eval()
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]], device="cuda")
    out, _ = encoder(ids, torch.tensor([4, 2]))
    alone, _ = encoder(ids[1:, :2], torch.tensor([2]))
    torch.testing.assert_close(out[1, :2], alone[0], rtol=1e-4, atol=1e-5)
