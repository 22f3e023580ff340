"""The CPU a web or training-launch worker spends on the largest input of each kind that the limits refuse (issue 15).

    python -m bench.bounds [--repeat 5]

In this process, through the same code a request runs (rnnservice/parsers.py, apps/serving/limits.py,
rnnservice/ml/budget.py), with the default limits: the median CPU time (time.process_time, every thread) of refusing
1. a JSON body of RNNSERVICE_MAX_BODY_BYTES that only opens arrays (the deepest a body can be), by
   RNNSERVICE_MAX_JSON_DEPTH;
2. a body that declares more than RNNSERVICE_MAX_BODY_BYTES, by its Content-Length, and one that does not say
   (read up to the limit, then refused);
3. a prediction input of as many characters as a body can carry, parsed, then refused by SERVING_MAX_INPUT_CHARS;
   beside it, what that string cost before: the subword tokenizer's pass (a BPE of 8,000 subwords) that preceded
   SERVING_MAX_TOKENS' refusal;
4. a training launch of billions of parameters (embedding 4,096, hidden 8,192, 16 layers), by
   TRAINING_MAX_PARAMETERS: the model built on the meta device and counted.
Prints one JSON line per measurement. Needs no database, broker or data set.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def cpu_seconds(work: Callable[[], Any], repeat: int) -> float:
    """The median CPU time of `work()`, which must raise the refusal it is measured for."""
    from rnnservice.errors import ServiceError

    times = []
    for _ in range(repeat):
        start = time.process_time()
        try:
            work()
        except ServiceError:
            pass
        else:
            raise SystemExit(f"{work.__name__}: not refused")
        times.append(time.process_time() - start)
    return statistics.median(times)


class _Request:
    """What read_body looks at of a request: its META (Content-Length)."""

    def __init__(self, length: int | None):
        self.META = {} if length is None else {"CONTENT_LENGTH": str(length)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rnnservice.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    os.environ.setdefault("RNNSERVICE_HOME", tempfile.mkdtemp(prefix="bench-bounds-"))
    import django

    django.setup()
    from django.conf import settings

    from apps.serving import limits
    from apps.training.limits import check_budget
    from rnnservice.ml.config import config_from_dict
    from rnnservice.ml.text import make_tokenizer
    from rnnservice.parsers import JSONParser

    maximum = settings.RNNSERVICE_MAX_BODY_BYTES
    deep = b"[" * maximum
    text = ("Ein Hund rennt durch den Park. " * (maximum // 30))[:maximum - 64]
    long_input = json.dumps({"inputs": [text]}).encode()
    assert len(long_input) <= maximum, len(long_input)

    def parse(body: bytes, declared: int | None) -> Any:
        return JSONParser().parse(io.BytesIO(body), "application/json", {"request": _Request(declared)})

    def deep_json() -> None:
        parse(deep, len(deep))

    def declared_too_large() -> None:
        parse(b"", 100 * maximum)

    def undeclared_too_large() -> None:
        parse(b" " * (maximum + 1), None)

    def long_prediction_input() -> None:
        limits.check_characters(parse(long_input, len(long_input))["inputs"])

    def huge_model() -> None:
        class Dataset:                   # the statistics check_budget reads; no database needed
            statistics = {"splits": {"train": {"tokens": 200_000, "labels": {str(n): 1 for n in range(17)},
                                               "length": {"max": 120}}}}
        config = config_from_dict({"architecture": {"embed_dim": 4096, "hidden_dim": 8192, "num_layers": 16}},
                                  task="tagging")
        check_budget(config, Dataset())

    rows = [
        ("json depth", "RNNSERVICE_MAX_JSON_DEPTH", len(deep), deep_json),
        ("body size, declared", "RNNSERVICE_MAX_BODY_BYTES", 100 * maximum, declared_too_large),
        ("body size, undeclared", "RNNSERVICE_MAX_BODY_BYTES", maximum + 1, undeclared_too_large),
        ("prediction input", "SERVING_MAX_INPUT_CHARS", len(long_input), long_prediction_input),
        ("training launch", "TRAINING_MAX_PARAMETERS", 0, huge_model),
    ]
    cpu_seconds(huge_model, 1)            # torch's first meta-device build pays for lazy set-up; not a request's cost
    for kind, limit, size, work in rows:
        print(json.dumps({"refused": kind, "limit": limit, "bytes": size,
                          "cpu_ms": round(1000 * cpu_seconds(work, args.repeat), 2)}))

    # Before SERVING_MAX_INPUT_CHARS: the same string went through the model's subword tokenizer first.
    bpe = make_tokenizer("bpe", bpe_vocab_size=8000)
    bpe.fit([text[:200_000]])
    start = time.process_time()
    bpe.tokenize(json.loads(long_input)["inputs"][0])
    print(json.dumps({"before": "prediction input through the BPE tokenizer", "bytes": len(long_input),
                      "cpu_ms": round(1000 * (time.process_time() - start), 2)}))


if __name__ == "__main__":
    main()
