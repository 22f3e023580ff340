"""ONNX Runtime against PyTorch eager for the default tagger's architecture (issue 19: the faster runtime).

    python -m bench.runtime [--data ../shared/datasets]

The tagging task's defaults (a 2-layer BiLSTM of 256, a character CNN of 64, embeddings of 100) with the vocabulary
of 2,000 UD English EWT sentences and fresh weights (speed does not depend on them). Prints what the export at save
records (rnnservice/ml/runtime.py: its check and the time it took), then the median ms of a forward pass with
decoding (`predict`), 1 torch or ONNX Runtime thread, on 200 dev sentences one at a time and on 640 in batches of
64: eager and ONNX Runtime alternated three times, the middle round reported. When the check refuses the export,
the graph is exported all the same, for its speed alone.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnservice.ml import runtime, tasks
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.formats import read_examples
from rnnservice.ml.models import build_model

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ud = args.data / "ud-english-ewt"
    train = read_examples(ud / "en_ewt-ud-train.conllu", task="tagging")[:2000]
    dev = read_examples(ud / "en_ewt-ud-dev.conllu", task="tagging")[:640]
    config = config_from_dict({}, task="tagging")
    codec = tasks.get("tagging").codec_class("tokens").fit(train, config)
    torch.manual_seed(0)
    model = build_model(config, codec.sizes()).eval()
    folder = Path(tempfile.mkdtemp(prefix="rnnservice-bench-runtime-"))
    started = time.perf_counter()
    recorded = runtime.export(model, codec, "tagging", folder)
    print(json.dumps({"export_and_check_s": round(time.perf_counter() - started, 2), "recorded": recorded}))
    if not (folder / runtime.ONNX_FILE).is_file():
        _export_unchecked(model, codec, folder / runtime.ONNX_FILE)
    onnx = runtime.OnnxModel(model, folder / runtime.ONNX_FILE, threads=1)

    def batch_of(group):
        items = [codec.encode(example) for example in group]
        return {k: v for k, v in codec.collate(items).items() if k in ("ids", "lengths", "chars")}

    ones = [batch_of([example]) for example in dev[:200]]
    sixty_fours = [batch_of(dev[i:i + 64]) for i in range(0, 640, 64)]
    rounds: dict[str, list[float]] = {}
    for _ in range(3):
        for name, run in (("eager", model.predict), ("onnx", onnx.predict)):
            rounds.setdefault(f"{name}_1_sentence_ms", []).append(_median_ms(run, ones))
            rounds.setdefault(f"{name}_64_sentences_ms", []).append(_median_ms(run, sixty_fours))
    print(json.dumps({name: sorted(values)[1] for name, values in rounds.items()}), json.dumps(rounds))


def _export_unchecked(model, codec, path: Path) -> None:
    names = ["ids", "lengths", "chars"]
    batch = runtime._check_batch(codec, names, (7, 1, 12, 3))
    # _Logits is made in eval mode, so the exporter leaves `model` (timed below) in eval mode too
    torch.onnx.export(runtime._Logits(model, names), tuple(batch[n] for n in names), str(path), input_names=names,
                      output_names=["logits"], opset_version=runtime.OPSET, dynamo=False,
                      dynamic_axes={"ids": {0: "b", 1: "t"}, "lengths": {0: "b"}, "chars": {0: "b", 1: "t", 2: "l"},
                                    "logits": {0: "b", 1: "t"}})


def _median_ms(run, batches) -> float:
    times = []
    with torch.inference_mode():
        for warm in (True, False):
            for batch in batches:
                started = time.perf_counter()
                run(**batch)
                if not warm:
                    times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 3)


if __name__ == "__main__":
    main()
