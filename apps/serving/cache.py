"""The per-process LRU cache of loaded models, keyed by (version id, sha256): at most SERVING_CACHE_SIZE of them
and SERVING_CACHE_BYTES of weights, each checked against its files on disk before it answers. A loaded model is
warmed up, and comes with its own Batcher (SERVING_BATCHING), through which the serving service sends its
predictions so that concurrent requests share batches. The cache loads; it does not predict."""
from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import torch
from django.conf import settings

from apps.registry.artifacts import version_fetch, version_unavailable
from apps.registry.models import ModelVersion
from apps.registry.verification import Stamp, files_stamp
from apps.serving.batching import Batcher
from rnnservice.ml.artifacts import MANIFEST, load_version
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.pipeline import resolve_device
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import serving_model

logger = logging.getLogger(__name__)
Key = tuple[int, str]                          # (ModelVersion.pk, ModelVersion.sha256)


@dataclass
class LoadedModel:
    """A version's Predictor, its weights' size, and the Batcher its predictions go through (None: batching off)."""
    predictor: Predictor
    nbytes: int
    batcher: Batcher | None = None

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()


@dataclass
class _Entry:
    model: LoadedModel
    stamp: Stamp                               # the folder's files as they were when it was loaded and verified
    used: int = 0                              # when it last answered, on the cache's clock: the LRU order


class ModelCache:
    """A bounded, thread-safe LRU map from a key to a LoadedModel.

    A hit is served only while the files it was loaded from look unchanged (size, mtime and inode of each: four
    stat calls, no hashing). When they changed, the entry is dropped and loaded again, and the load verifies
    every byte, so a changed artifact is refused in every process rather than served from memory by some.

    A hit takes no lock (a dict read is atomic under the GIL, and so is the counter that orders entries by use), so
    that concurrent requests for a loaded model never queue behind each other's stat calls; py-spy put 13% of an
    int8 worker's time in that queue (bench/RESULTS.md). Loading happens outside the lock, so that a slow load
    does not hold up requests for other models. Requests that miss the same key while it loads wait for that one
    load (a cold worker under load would otherwise load a model once per waiting request), and share its result
    or its error.

    Bounds: at most `size` models, and at most `max_bytes` of weights in all; the least recently used go first,
    but the model just loaded always stays, even alone over `max_bytes`. A dropped model's batcher answers what
    it holds, and a caller that got the model just before still gets an answer.
    """

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._loading: dict[Key, Future[LoadedModel]] = {}
        self._lock = threading.Lock()
        self._clock = itertools.count(1)

    def get(self, key: Key, *, folder: Path, load: Callable[[], LoadedModel], size: int,
            max_bytes: int) -> LoadedModel:
        entry = self._entries.get(key)
        if _fresh(entry, folder):
            entry.used = next(self._clock)
            return entry.model
        with self._lock:
            current = self._entries.get(key)
            if current is not entry and _fresh(current, folder):
                current.used = next(self._clock)      # another request loaded it again since the read above
                return current.model
            stale = self._entries.pop(key, None)
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = Future()
                loads_here = True
            else:
                loads_here = False
        if stale is not None:
            stale.model.close()
        if not loads_here:
            return loading.result()            # the model another request is loading, or its error
        try:
            stamp = files_stamp(folder)        # before loading: a change during the load shows at the next hit
            model = load()
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            loading.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
            self._entries[key] = _Entry(model, stamp, next(self._clock))   # only the loading request inserts it
            dropped = []
            while len(self._entries) > 1 and (len(self._entries) > size or self.nbytes() > max_bytes):
                old_key = min((k for k in self._entries if k != key), key=lambda k: self._entries[k].used)
                old = self._entries.pop(old_key)
                dropped.append(old)
                logger.info("model cache: dropped version id %s to stay within SERVING_CACHE_SIZE=%s and "
                            "SERVING_CACHE_BYTES=%s", old_key[0], size, max_bytes)
        loading.set_result(model)
        for old in dropped:
            old.model.close()                  # its batcher answers the requests it holds, then stops
        return model

    def nbytes(self) -> int:
        """The weights of every cached model, in bytes."""
        return sum(entry.model.nbytes for entry in list(self._entries.values()))

    def keys(self) -> list[Key]:
        """The cached keys, least recently used first."""
        with self._lock:
            return sorted(self._entries, key=lambda k: self._entries[k].used)

    def clear(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.model.close()


def _fresh(entry: _Entry | None, folder: Path) -> bool:
    """Whether a cached entry may answer: its folder's files look as they did when it was loaded and verified."""
    return entry is not None and entry.stamp is not None and entry.stamp == files_stamp(folder)


models = ModelCache()


def model_get(*, version: ModelVersion) -> LoadedModel:
    """The version's LoadedModel, from this process's cache or loaded from MODELS_STORE on the device of
    RNNSERVICE_DEVICE and warmed up. Raises ArtifactUnavailable when the folder fails its manifest or the manifest
    is not the one whose sha256 was recorded at registration."""
    folder = version_fetch(version=version)     # from the artifact bucket when this machine lacks it
    return models.get((version.pk, version.sha256), folder=folder, load=lambda: _loaded(version),
                      size=settings.SERVING_CACHE_SIZE, max_bytes=settings.SERVING_CACHE_BYTES)


def _loaded(version: ModelVersion) -> LoadedModel:
    predictor = _load(version)
    predictor.warm_up()                        # the first request must not pay for lazy set-up in torch
    batcher = None
    if settings.SERVING_BATCHING:
        batcher = Batcher(predictor.run, max_items=settings.SERVING_BATCH_MAX_ITEMS,
                          max_wait=settings.SERVING_BATCH_WAIT_MS / 1000,
                          max_tokens=settings.SERVING_BATCH_MAX_TOKENS,
                          max_delay=settings.SERVING_BATCH_MAX_DELAY_MS / 1000, length=lambda prepared: prepared.steps,
                          name=f"{version.model.name} v{version.number}")
    return LoadedModel(predictor, predictor.nbytes(), batcher)


def _load(version: ModelVersion) -> Predictor:
    # load_version verifies every file against manifest.json and returns the manifest's sha256; comparing it
    # with the recorded one makes sure the artifact served is the one registered (Predictor.load drops it).
    device = resolve_device(settings.RNNSERVICE_DEVICE)        # checks.py refuses a CUDA device that is not there
    try:
        loaded = load_version(version.folder, device=device)
    except ArtifactError as exc:
        logger.error("model %s version %s cannot be loaded: %s", version.model.name, version.number, exc)
        raise version_unavailable(version=version, error=exc) from exc
    if loaded.sha256 != version.sha256:
        logger.error("model %s version %s: %s/%s has sha256 %s, registered %s", version.model.name, version.number,
                     version.folder, MANIFEST, loaded.sha256, version.sha256)
        raise version_unavailable(version=version)
    # ONNX Runtime where the version's export passed its check and SERVING_RUNTIME allows (rnnservice/ml/runtime.py).
    runner = serving_model(loaded.model, version.folder, loaded.info, runtime=settings.SERVING_RUNTIME,
                           device=device, threads=torch.get_num_threads())
    logger.info("model cache: loaded %s version %s (%s)", version.model.name, version.number,
                f"ONNX Runtime, {runner.path.name}" if runner is not loaded.model else "PyTorch")
    return Predictor(loaded.model, loaded.codec, loaded.config, device=device, runner=runner)
