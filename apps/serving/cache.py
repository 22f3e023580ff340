"""The per-process LRU cache of loaded models: Predictors keyed by (version id, sha256), at most
SERVING_CACHE_SIZE of them, each checked against its files on disk before it answers."""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from apps.registry.artifacts import version_unavailable
from apps.registry.models import ModelVersion
from rnnservice.ml.artifacts import FILES, MANIFEST, load_version
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.pipeline import resolve_device
from rnnservice.ml.predict import Predictor

logger = logging.getLogger(__name__)
Key = tuple[int, str]                          # (ModelVersion.pk, ModelVersion.sha256)
Stamp = tuple[tuple[int, int, int], ...] | None


@dataclass
class _Entry:
    predictor: Predictor
    stamp: Stamp                               # the folder's files as they were when it was loaded and verified


class PredictorCache:
    """A bounded, thread-safe LRU map from a key to a loaded Predictor.

    A hit is served only while the files it was loaded from look unchanged (size, mtime and inode of each: four
    stat calls, no hashing). When they changed, the entry is dropped and loaded again, and the load verifies
    every byte, so a changed artifact is refused in every process rather than served from memory by some.

    Loading happens outside the lock, so that a slow load does not hold up requests for other models; two
    requests that miss the same key at once both load it, and the second result is the one kept.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, *, folder: Path, load: Callable[[], Predictor], size: int) -> Predictor:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.stamp is not None and entry.stamp == _stamp(folder):
                self._entries.move_to_end(key)
                return entry.predictor
            self._entries.pop(key, None)
        stamp = _stamp(folder)                 # before loading: a change during the load shows at the next hit
        predictor = load()
        with self._lock:
            self._entries[key] = _Entry(predictor, stamp)
            self._entries.move_to_end(key)
            while len(self._entries) > size:
                dropped, _ = self._entries.popitem(last=False)
                logger.info("model cache: dropped version id %s to stay within SERVING_CACHE_SIZE=%s",
                            dropped[0], size)
        return predictor

    def keys(self) -> list[Key]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


predictors = PredictorCache()


def predictor_get(*, version: ModelVersion) -> Predictor:
    """The version's Predictor, from this process's cache or loaded from MODELS_STORE on the device of
    RNNSERVICE_DEVICE. Raises ArtifactUnavailable when the folder fails its manifest or the manifest is not
    the one whose sha256 was recorded at registration."""
    return predictors.get((version.pk, version.sha256), folder=version.folder, load=lambda: _load(version),
                          size=settings.SERVING_CACHE_SIZE)


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
    logger.info("model cache: loaded %s version %s", version.model.name, version.number)
    return Predictor(loaded.model, loaded.codec, loaded.config, device=device)


def _stamp(folder: Path) -> Stamp:
    try:
        stats = [os.stat(folder / name) for name in (*FILES, MANIFEST)]
    except OSError:
        return None                            # a missing file: never equal to a loaded entry's stamp
    return tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in stats)
