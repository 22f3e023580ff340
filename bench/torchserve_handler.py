"""The TorchServe handler of bench/serving.py: the same version folder, loaded and run by the same Predictor code
as rnnservice, so that the comparison is between the two servers (HTTP, batching, process model), not the
models. A request's body is rnnservice's: {"inputs": [...]}; the answer is {"outputs": [...]}.

TorchServe gathers up to `batchSize` requests (or what came within `maxBatchDelay` ms) and calls handle() once
with the list of them; it expects one answer per request, in order.
"""
from __future__ import annotations

import json
import os

import torch
from ts.torch_handler.base_handler import BaseHandler

from rnnservice.ml.predict import Predictor


class RnnserviceHandler(BaseHandler):
    def initialize(self, context) -> None:
        torch.set_num_threads(int(os.environ.get("TORCH_THREADS", torch.get_num_threads())))
        self.predictor = Predictor.load(context.system_properties["model_dir"])   # verifies manifest.json
        self.predictor.warm_up()
        self.initialized = True

    def handle(self, data, context) -> list[dict]:
        requests = [_inputs(row) for row in data]
        prepared = [one for inputs in requests for one in self.predictor.prepare(inputs)]
        outputs = self.predictor.run(prepared, self.predictor.options({}))
        answers, start = [], 0
        for inputs in requests:
            answers.append({"outputs": outputs[start:start + len(inputs)]})
            start += len(inputs)
        return answers


def _inputs(row: dict) -> list:
    body = row.get("body") if row.get("body") is not None else row.get("data")
    if isinstance(body, (bytes, bytearray)):
        body = json.loads(body)
    return body["inputs"]
