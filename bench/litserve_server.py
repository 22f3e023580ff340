"""LitServe serving a version folder with the same Predictor code as rnnservice, for bench/serving.py.

    python -m bench.litserve_server FOLDER PORT WORKERS TORCH_THREADS MAX_BATCH BATCH_TIMEOUT_S

POST /predict with rnnservice's body, {"inputs": [...]}: each request's inputs are one item of LitServe's own
dynamic batching (max_batch_size, batch_timeout), predicted together by Predictor.predict."""
from __future__ import annotations

import sys

import litserve as ls
import torch

from rnnservice.ml.predict import Predictor


class PredictorAPI(ls.LitAPI):
    def __init__(self, folder: str, threads: int, **options):
        super().__init__(**options)
        self.folder, self.threads = folder, threads

    def setup(self, device):
        torch.set_num_threads(self.threads)
        self.predictor = Predictor.load(self.folder)
        self.predictor.warm_up()

    def decode_request(self, request):
        return request["inputs"]

    def batch(self, requests):
        return requests                                   # a list of requests, each a list of inputs

    def predict(self, requests):
        flat = [item for request in requests for item in request]
        outputs, answers, start = self.predictor.predict(flat), [], 0
        for request in requests:
            answers.append(outputs[start:start + len(request)])
            start += len(request)
        return answers

    def unbatch(self, answers):
        return answers

    def encode_response(self, outputs):
        return {"outputs": outputs}


def main() -> None:
    folder, port, workers, threads, max_batch, timeout = sys.argv[1:7]
    api = PredictorAPI(folder, int(threads), max_batch_size=int(max_batch), batch_timeout=float(timeout))
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=int(workers))
    server.run(host="127.0.0.1", port=int(port), generate_client_file=False)


if __name__ == "__main__":
    main()
