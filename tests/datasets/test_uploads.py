"""Tests for apps/datasets/uploads.py through POST /api/datasets/: hostile files are refused with a 400 that names
the field (and the limit or line), nothing is stored, and no client file name reaches the file system.
Over-size files and too many lines: test_api.py."""
from __future__ import annotations

import gzip
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from apps.datasets.models import Dataset
from tests.factories import DATA

URL = "/api/datasets/"
SST = (DATA / "tiny_sst.tsv").read_bytes()


def post_files(client, **files: bytes):
    """Upload `files` ({"train": b"...", ...}) as a classification dataset, each named after its field."""
    data = {"name": "hostile", "task": "classification"}
    data.update({field: SimpleUploadedFile(f"{field}.tsv", content) for field, content in files.items()})
    return client.post(URL, data, format="multipart")


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def assert_refused(response, media_root: Path, field: str, *words: str) -> None:
    assert response.status_code == 400, response.data
    assert response.data["field"] == field
    assert all(word in response.data["detail"] for word in words), response.data["detail"]
    assert not Dataset.objects.exists()
    assert files_under(media_root) == set() if media_root.exists() else True


def test_it_refuses_a_line_over_the_line_length_limit(api, media_root, settings):
    settings.RNNSERVICE_MAX_UPLOAD_LINE_CHARS = 50                   # tiny_sst.tsv's longest line has 48
    response = post_files(api, train=SST, dev=b"sentence\tlabel\ngood .\t1\n" + b"x" * 49 + b"\t1\n")
    assert_refused(response, media_root, "dev", "characters on line 3 of the dev file is 51; the limit is 50",
                   "RNNSERVICE_MAX_UPLOAD_LINE_CHARS")
    assert (response.data["limit"], response.data["line"], response.data["maximum"]) == (
        "RNNSERVICE_MAX_UPLOAD_LINE_CHARS", 3, 50)


def test_it_counts_a_line_across_the_chunks_it_is_read_in(api, media_root):
    # 150,000 characters: over the default limit of 100,000, in three chunks of 64 KiB.
    response = post_files(api, train=b"sentence\tlabel\n" + b"y" * 150_000 + b"\t1\n")
    assert_refused(response, media_root, "train", "characters on line 2 of the train file is 150,002")


def test_it_takes_a_character_cut_by_the_chunk_end(api, media_root):
    # "é" is two bytes; after the odd first byte, one of them straddles the end of the first 64 KiB chunk.
    line = "a" + "é" * 40_000
    response = post_files(api, train=f"sentence\tlabel\n{line}\t1\n{line}\t0\n".encode())
    assert response.status_code == 201, response.data


@pytest.mark.parametrize(("content", "line"), [
    ((DATA / "bad_utf8.tsv").read_bytes(), 3),                       # Latin-1, not UTF-8
    (SST + "naïve .\t1\n".encode("utf-16-le"), 6),                   # UTF-16 text appended
    (SST[:-1] + b"\xe2\x82", 5),                                     # a character cut off at the end of the file
])
def test_it_refuses_a_file_that_is_not_utf8(api, media_root, content, line):
    response = post_files(api, train=SST, dev=content)
    assert_refused(response, media_root, "dev", "not UTF-8 text", f"on line {line}")
    assert response.data["line"] == line


def test_it_refuses_a_binary_file(api, media_root):
    response = post_files(api, train=SST.replace(b"one long", b"one\x00\x00long"))
    assert_refused(response, media_root, "train", "NUL byte on line 3", "binary")


@pytest.mark.parametrize(("compress", "kind"), [(gzip.compress, "gzip")])
def test_it_refuses_a_compressed_file_without_unpacking_it(api, media_root, compress, kind):
    data = {"name": "packed", "task": "classification",
            "train": SimpleUploadedFile("train.tsv.gz", compress(SST * 1000))}
    response = api.post(URL, data, format="multipart")
    assert_refused(response, media_root, "train", f"{kind}-compressed", "not accepted")


@pytest.mark.parametrize("client_name", [
    "../../../../../../../../tmp/{probe}.tsv", "/tmp/{probe}.tsv", "..\\..\\..\\{probe}.tsv",
    "a\x00b/../../{probe}.tsv", "{probe}" + "x" * 600 + ".tsv",
])
def test_it_stores_a_file_under_its_own_name_whatever_the_client_calls_it(api, media_root, tmp_path, client_name):
    probe = uuid.uuid4().hex
    before = files_under(tmp_path)
    response = api.post(URL, multipart(client_name.format(probe=probe), SST), content_type=f"multipart/form-data; "
                                                                                         f"boundary={BOUNDARY}")
    assert response.status_code == 201, response.data
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert files_under(tmp_path) - before == {media_root / "datasets" / str(dataset.pk) / "train.tsv"}
    assert not list(Path("/tmp").glob(f"{probe}*"))


@pytest.mark.parametrize(("client_name", "body"), [
    *((name, {"detail": "train: No file was submitted.", "field": "train"}) for name in ("..", ".", "/", "\x00")),
    ("x" * 5000 + ".tsv", {"detail": "Multipart form parse error - Request max total header size exceeded."}),
])
def test_it_refuses_a_file_whose_name_is_only_a_path_or_far_too_long(api, tmp_path, client_name, body):
    before = files_under(tmp_path)
    response = api.post(URL, multipart(client_name, SST), content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert (response.status_code, response.data) == (400, body)
    assert files_under(tmp_path) == before


BOUNDARY = "rnnservice-test-boundary"


def multipart(client_name: str, content: bytes) -> bytes:
    """A multipart body written by hand: Django's test client would send only the base name of the file."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in (("name", "tricky"), ("task", "classification"))]
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="train"; filename="{client_name}"\r\n'
                 f"Content-Type: text/tab-separated-values\r\n\r\n".encode("utf-8", "surrogateescape")
                 + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def test_it_limits_the_bytes_a_user_stores_and_counts_each_users_own(api, api_as, bob, media_root, settings):
    settings.DATASET_MAX_BYTES_PER_USER = 2 * len(SST) + 10
    first = api.post(URL, {"name": "one", "task": "classification", "train": SimpleUploadedFile("t.tsv", SST)},
                     format="multipart")
    assert first.status_code == 201, first.data
    stored = files_under(media_root)
    refused = post_files(api, train=SST, dev=SST)
    assert refused.status_code == 400, refused.data
    assert (refused.data["limit"], refused.data["value"], refused.data["stored"]) == (
        "DATASET_MAX_BYTES_PER_USER", 3 * len(SST), len(SST))
    assert "DATASET_MAX_BYTES_PER_USER" in refused.data["detail"]
    assert list(Dataset.objects.values_list("name", flat=True)) == ["one"] and files_under(media_root) == stored
    assert post_files(api_as(bob), train=SST, dev=SST).status_code == 201          # bob's bytes are his own


@pytest.mark.parametrize(("extra", "field", "words"), [
    ({"train": [SST, SST]}, "train", "more than once"),
    ({"dev_file": [SST]}, "dev_file", "unknown field"),
])
def test_it_refuses_a_second_file_or_an_unknown_field_naming_it(api, media_root, extra, field, words):
    data = {"name": "twice", "task": "classification", "train": SimpleUploadedFile("a.tsv", SST)}
    for name, contents in extra.items():
        data[name] = [SimpleUploadedFile(f"{name}{n}.tsv", content) for n, content in enumerate(contents)]
    response = api.post(URL, data, format="multipart")
    assert response.status_code == 400, response.data
    assert response.data["field"] == field and words in response.data["detail"]
    assert not Dataset.objects.exists() and (not media_root.exists() or files_under(media_root) == set())


def test_an_empty_file_is_refused_alike_by_the_api_and_import_dataset(api, alice, media_root):
    response = api.post(URL, {"name": "empty", "task": "classification",
                              "train": SimpleUploadedFile("train.tsv", b"")}, format="multipart")
    assert response.json() == {"detail": "the train file is empty", "field": "train"}
    with pytest.raises(CommandError, match="^the train file is empty$"):
        call_command("import_dataset", "empty", "--task", "classification", "--train", str(DATA / "empty.tsv"),
                     "--owner", "alice", stdout=StringIO())
    assert not Dataset.objects.exists()
