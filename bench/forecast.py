"""ETTh1 forecasting figures (issue 17): test MSE and MAE on z-scored values, the literature's split and metric.

    python -m bench.forecast [--horizons 96 192 336 720] [--lookback 720] [--epochs 10] [--config FILE.json]

The standard split by time of the Informer code (../shared/datasets/etth1/README.md): rows 0-8,639 train, 8,640-11,519
dev, 11,520-14,399 test, windows of the dev and test rows starting `lookback` rows earlier, every window (stride 1)
scored; the scaler fitted on the train rows only; multivariate (all 7 columns in, all 7 forecast). Training is the
service's own (`pipeline.train` with the forecasting defaults), early stopping on the dev MSE; the test rows are
scored once, with the best dev epoch's weights. One JSON line per epoch, then one per horizon with the test
figures; seconds are wall time on this machine, shared with other work.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rnnservice.ml import tasks
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.pipeline import load_examples, train
from rnnservice.ml.predict import Predictor

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "etth1" / "ETTh1.csv"
TRAIN_END, DEV_END, TEST_END = 8_640, 11_520, 14_400           # 12, 4 and 4 months of 30 days


def run(horizon: int, lookback: int, overrides: dict, path: Path) -> dict:
    data = {**overrides.get("data", {}), "lookback": lookback, "horizon": horizon}
    config = config_from_dict({**overrides, "data": data}, task="forecasting", input="values")
    (series,) = load_examples(config, str(path))
    train_part = series.rows(0, TRAIN_END)
    dev_part = series.rows(TRAIN_END - lookback, DEV_END)
    test_part = series.rows(DEV_END - lookback, TEST_END)
    began = time.perf_counter()
    result = train(config, [train_part], [dev_part],
                   on_epoch=lambda e: print(json.dumps({"horizon": horizon, **e.to_dict()}), flush=True))
    trained = time.perf_counter() - began
    predictor = Predictor(result.model, result.codec, result.config)
    test = tasks.get("forecasting").gold_examples(result.config, result.codec, [test_part])
    metrics = predictor.evaluate(test)
    epochs = [e.seconds for e in result.fit.history]
    return {"horizon": horizon, "lookback": lookback, "test_windows": len(test),
            "test_mse": round(metrics["mse"], 4), "test_mae": round(metrics["mae"], 4),
            "dev_mse": round(result.metrics["mse"], 4), "best_epoch": result.fit.best_epoch,
            "epochs": len(epochs), "median_s_per_epoch": round(sorted(epochs)[len(epochs) // 2], 1),
            "train_s": round(trained, 1), "head": result.config.architecture.forecast_head,
            "lr": result.config.training.lr, "stride": result.config.data.stride}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--lookback", type=int, default=720)
    parser.add_argument("--epochs", type=int, help="over the config's (the task's default: 10)")
    parser.add_argument("--config", type=Path, help="JSON: {architecture, training, data} over the defaults")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    overrides = json.loads(args.config.read_text()) if args.config else {}
    if args.epochs:
        overrides.setdefault("training", {})["epochs"] = args.epochs
    for horizon in args.horizons:
        print(json.dumps(run(horizon, args.lookback, overrides, args.data)), flush=True)


if __name__ == "__main__":
    main()
