"""Numeric series through /api/datasets/, the admin and import_dataset: each series format is stored and validated
with statistics fit for series and its input kind; a broken file is invalid at its line; an .npz is never read as
text, and its arrays must unpack within the upload limit."""
from __future__ import annotations

import io
import zipfile
from io import StringIO

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from apps.datasets.models import Dataset
from tests.datasets.helpers import run_queued_validations, upload
from tests.factories import DATA

SERIES_UPLOADS = {
    "ucr": ("classification", "series_ucr.tsv", "ucr",
            {"examples": 3, "frames": 12, "features": 1, "labels": {"1": 2, "2": 1},
             "length": {"p50": 4, "p90": 5, "p99": 5, "max": 5}}),
    "ts": ("classification", "series_multi.ts", "ts",
           {"examples": 3, "frames": 6, "features": 2, "labels": {"up": 2, "down": 1}}),
    "jsonl": ("classification", "series_classes.jsonl", "jsonl",
              {"examples": 3, "frames": 6, "features": 2, "labels": {"walk": 1, "1": 1, "2": 1}}),
    "npz": ("classification", "series_classes.npz", "npz",
            {"examples": 3, "frames": 7, "features": 2, "labels": {"1": 2, "2": 1}}),
    "jsonl tags": ("tagging", "series_tagging.jsonl", "jsonl",
                   {"examples": 2, "frames": 5, "features": 1, "labels": {"rest": 2, "beat": 1, "0": 1, "1": 1}}),
    "npz tags": ("tagging", "series_tagging.npz", "npz",
                 {"examples": 2, "frames": 6, "features": 1, "labels": {"beat": 3, "rest": 3}}),
}


def validated(api, django_capture_on_commit_callbacks, **kwargs) -> Dataset:
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, **kwargs)
    assert response.status_code == 201, response.data
    assert run_queued_validations(callbacks) == [response.data["id"]]
    return Dataset.objects.get(pk=response.data["id"])


@pytest.mark.parametrize("kind", SERIES_UPLOADS)
def test_it_validates_each_series_format_with_statistics_of_series(api, django_capture_on_commit_callbacks, kind):
    task, filename, format, expected = SERIES_UPLOADS[kind]
    dataset = validated(api, django_capture_on_commit_callbacks, task=task, files={"train": filename})
    assert (dataset.status, dataset.format, dataset.input, dataset.error) == ("valid", format, "values", "")
    train = dataset.statistics["splits"]["train"]
    assert {key: train[key] for key in expected} == expected
    assert len(train["mean"]) == len(train["std"]) == train["features"]
    assert "tokens" not in train
    detail = api.get(f"/api/datasets/{dataset.pk}/").data
    assert (detail["input"], detail["statistics"]) == ("values", dataset.statistics)


def test_it_computes_each_features_mean_and_deviation_over_every_frame(api, django_capture_on_commit_callbacks):
    dataset = validated(api, django_capture_on_commit_callbacks, task="classification",
                        files={"train": "series_classes.jsonl"})
    train = dataset.statistics["splits"]["train"]
    frames = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [1, 2], [-1.5, 2.5e3], [0, 0]])   # series_classes.jsonl
    assert train["mean"] == pytest.approx(frames.mean(axis=0).tolist(), rel=1e-5)
    assert train["std"] == pytest.approx(frames.std(axis=0).tolist(), rel=1e-5)


def test_a_text_dataset_records_tokens_and_a_pending_one_nothing_yet(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, task="classification", files={"train": "tiny_sst.tsv"})
    assert (response.data["status"], response.data["input"]) == ("pending", None)
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert (dataset.status, dataset.input) == ("valid", "tokens")
    assert api.get(f"/api/datasets/{dataset.pk}/").data["input"] == "tokens"


@pytest.mark.parametrize(("task", "files", "error_file", "line", "problem"), [
    ("classification", {"train": "series_bad_nan.tsv"}, "train", 2, "value 3: not a finite number (nan)"),
    ("classification", {"train": "series_ucr.tsv", "dev": "series_bad_nan.tsv"}, "dev", 2, "not a finite number"),
    ("classification", {"train": "series_bad_features.jsonl"}, "train", 3,
     "values[1]: 2 features, but the first series of the file (line 1) has 3"),
    ("classification", {"train": "series_bad_inf.jsonl"}, "train", 2, "values[1][0]: not a finite number (inf)"),
    ("classification", {"train": "series_bad_missing.ts"}, "train", 6, "'?' marks a missing value"),
    ("classification", {"train": "series_bad_text.ts"}, "train", 5, "'x' is not a number"),
    ("classification", {"train": "series_bad_nan.npz"}, "train", 2, "X[1, 2, 0]: not a finite number (nan)"),
    ("classification", {"train": "series_bad_object.npz"}, "train", 1, "reading it needs pickle, which is refused"),
    ("tagging", {"train": "series_bad_tags.jsonl"}, "train", 2, "3 frames but 2 tags"),
    ("classification", {"train": "series_classes.jsonl", "dev": "tiny_classification.jsonl"}, "dev", None,
     "the file holds text, but the train file holds numeric series"),
])
def test_it_marks_a_broken_series_file_invalid_at_its_line(api, media_root, django_capture_on_commit_callbacks,
                                                            task, files, error_file, line, problem):
    dataset = validated(api, django_capture_on_commit_callbacks, task=task, files=files)
    assert (dataset.status, dataset.error_file, dataset.error_line) == ("invalid", error_file, line)
    assert problem in dataset.error
    assert str(media_root) not in dataset.error and "/" not in dataset.error.split(":")[0]
    detail = api.get(f"/api/datasets/{dataset.pk}/").data
    assert (detail["error_file"], detail["error_line"]) == (error_file, line)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_it_stores_an_npz_byte_for_byte_without_reading_it_as_text(api, django_capture_on_commit_callbacks):
    data = (DATA / "series_classes.npz").read_bytes()
    assert b"PK\x03\x04" == data[:4] and b"\x00" in data         # a zip file, NUL bytes and all
    dataset = validated(api, django_capture_on_commit_callbacks, task="classification",
                        files={"train": "series_classes.npz", "dev": "series_classes.npz"})
    assert dataset.status == "valid", dataset.error
    assert dataset.train.name.endswith("/train.npz") and dataset.train.read() == data


def test_it_reads_an_npz_by_its_given_format_whatever_its_name(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post("/api/datasets/", {
            "name": "arrays", "task": "tagging", "format": "npz",
            "train": SimpleUploadedFile("arrays.bin", (DATA / "series_tagging.npz").read_bytes())}, format="multipart")
    assert response.status_code == 201, response.data
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert (dataset.status, dataset.format, dataset.input) == ("valid", "npz", "values")


@pytest.mark.parametrize(("name", "fields", "content", "words"), [
    ("train.npz", {}, b"1\t0.5\t0.25\n", ["not a NumPy .npz archive", "np.savez"]),
    ("train.csv", {"format": "npz"}, (DATA / "series_ucr.tsv").read_bytes(), ["not a NumPy .npz archive"]),
    ("train.zip", {}, npz_bytes(X=np.zeros((2, 3)), y=np.array([1, 2])),
     ["zip-compressed", "format npz: name the file .npz"]),
])
def test_it_refuses_an_npz_that_is_not_an_archive_and_an_archive_that_is_not_npz(api, media_root, name, fields,
                                                                                  content, words):
    response = api.post("/api/datasets/", {"name": "arrays", "task": "classification", **fields,
                                           "train": SimpleUploadedFile(name, content)}, format="multipart")
    assert response.status_code == 400, response.data
    assert response.data["field"] == "train"
    assert all(word in response.data["detail"] for word in words), response.data["detail"]
    assert not Dataset.objects.exists()


def test_it_refuses_an_archive_that_unpacks_past_the_upload_limit(api, settings, media_root):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:    # a 4 MB array of zeros packs into 4 kB
        archive.writestr("X.npy", _npy(np.zeros((1000, 500, 1))))
        archive.writestr("y.npy", _npy(np.ones(1000)))
    packed = out.getvalue()
    settings.RNNSERVICE_MAX_UPLOAD_BYTES = 1_000_000
    assert len(packed) < 100_000
    response = api.post("/api/datasets/", {"name": "bomb", "task": "classification",
                                           "train": SimpleUploadedFile("train.npz", packed)}, format="multipart")
    assert response.status_code == 400, response.data
    assert (response.data["limit"], response.data["field"], response.data["maximum"]) == (
        "RNNSERVICE_MAX_UPLOAD_BYTES", "train", 1_000_000)
    assert response.data["value"] > 4_000_000
    assert "once unpacked" in response.data["detail"]
    assert not Dataset.objects.exists()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_the_admin_lists_series_formats_and_shows_the_input_kind(admin_client, alice,
                                                                 django_capture_on_commit_callbacks):
    form = admin_client.get("/admin/datasets/dataset/add/").content.decode()
    assert all(f'<option value="{fmt}">' in form for fmt in ("ucr", "ts", "npz"))
    with (DATA / "series_classes.npz").open("rb") as train, django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/datasets/dataset/add/", {
            "name": "beats", "owner": alice.pk, "task": "classification", "format": "", "train": train})
    assert response.status_code == 302
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(name="beats")
    assert (dataset.status, dataset.format, dataset.input) == ("valid", "npz", "values")
    page = admin_client.get(f"/admin/datasets/dataset/{dataset.pk}/change/").content.decode()
    assert "values" in page and "&quot;features&quot;: 2" in page


def test_import_dataset_reports_series(alice):
    out = StringIO()
    call_command("import_dataset", "beats", "--task", "classification", "--train", str(DATA / "series_multi.ts"),
                 "--owner", "alice", "--wait", stdout=out)
    dataset = Dataset.objects.get(name="beats")
    assert (dataset.status, dataset.format, dataset.input) == ("valid", "ts", "values")
    assert f'dataset {dataset.pk} "beats" (classification, ts, numeric series) is valid' in out.getvalue()
    assert "train: 3 series of 2 features, 6 frames; length p50 2, p90 3, p99 3, max 3; 2 labels" in out.getvalue()
