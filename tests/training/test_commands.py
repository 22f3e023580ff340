"""Tests for `manage.py train`: launch by id or name, --config and --epochs, --sync in this process, --wait."""
from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.registry.models import ModelVersion
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.tasks import train_model
from tests.training.conftest import tiny_launch, valid_dataset


def train(*args: object) -> str:
    out = StringIO()
    call_command("train", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_launch()))
    return path


def test_it_trains_in_this_process_with_sync(transactional_db, alice, tagging_data, tiny_config, sent):
    out = train(tagging_data.pk, "--model", "cli-upos", "--config", tiny_config, "--sync")

    job = TrainingJob.objects.get()
    assert (job.status, job.owner, job.version.number) == ("succeeded", alice, 1)
    assert sent == []                                       # no broker involved
    lines = out.splitlines()
    assert lines[0] == (f'job {job.pk}: cli-upos on dataset {tagging_data.pk} "tiny ud", 2 epochs; '
                        "training here, in this process")
    assert lines[1].startswith("epoch 1/2: train_loss ")
    assert lines[2].startswith("epoch 2/2: train_loss ")
    assert lines[-1].startswith(f"job {job.pk} succeeded: cli-upos version 1; dev accuracy ")
    assert f"warning: {job.warnings[0]}" in lines                  # tiny.conllu's dev file: 2 sentences
    assert ModelVersion.objects.get().model.name == "cli-upos"


def test_it_exits_non_zero_when_the_job_fails(transactional_db, alice, tagging_data, tiny_config):
    tagging_data.train.storage.delete(tagging_data.train.name)
    with pytest.raises(CommandError, match=r"job \d+ failed: FormatError: datasets/\d+/train.conllu: "):
        train(tagging_data.pk, "--model", "cli-upos", "--config", tiny_config, "--sync")
    assert TrainingJob.objects.get().status == "failed"


def test_it_queues_a_job_for_a_worker_by_default(alice, tagging_data, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out = train("tiny ud", "--model", "queued", "--epochs", 3)
    job = TrainingJob.objects.get()
    assert sent == [job.pk]
    assert (job.status, job.config["training"]["epochs"]) == ("queued", 3)
    assert out == f'job {job.pk}: queued on dataset {tagging_data.pk} "tiny ud", 3 epochs; queued for a worker on ' \
                  "the training queue\n"


def test_it_waits_for_a_worker_and_draws_its_progress(transactional_db, alice, tagging_data, tiny_config,
                                                     monkeypatch):
    def worker(job_id):             # a worker in a thread of this process stands in for a Celery worker
        def run():
            try:
                job_run(job_id=job_id, worker="celery@thread")
            finally:
                connection.close()
        threading.Thread(target=run, daemon=True).start()
    monkeypatch.setattr(train_model, "delay", worker)

    out = train("tiny ud", "--model", "waited", "--config", tiny_config, "--epochs", 3, "--wait")

    job = TrainingJob.objects.get()
    assert (job.status, job.worker) == ("succeeded", "celery@thread")
    assert [line.split(":")[0] for line in out.splitlines()[1:4]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert out.splitlines()[-1].startswith(f"job {job.pk} succeeded: waited version 1")


def test_it_stops_waiting_on_ctrl_c_but_not_the_job(alice, tagging_data, monkeypatch):
    def interrupt(seconds):
        raise KeyboardInterrupt
    monkeypatch.setattr("apps.training.management.commands.train.time.sleep", interrupt)
    with pytest.raises(CommandError, match=r"stopped watching; job \d+ goes on on its worker") as caught:
        train("tiny ud", "--model", "watched", "--wait")
    assert caught.value.returncode == 130
    assert TrainingJob.objects.get().status == "queued"


def test_it_finds_a_dataset_by_name_of_the_given_owner(alice, bob, tagging_data):
    bobs = valid_dataset(bob, name="tiny ud")
    with pytest.raises(CommandError, match="datasets of several users are named 'tiny ud' \\(alice, bob\\); give "
                                           "--owner or the id"):
        train("tiny ud", "--model", "x")
    train("tiny ud", "--model", "bobs-model", "--owner", "bob")
    job = TrainingJob.objects.get()
    assert (job.dataset, job.owner) == (bobs, bob)


def test_it_refuses_a_dataset_the_owner_cannot_see(alice, bob, tagging_data):
    with pytest.raises(CommandError, match=f"no dataset with id {tagging_data.pk}"):
        train(tagging_data.pk, "--model", "x", "--owner", "bob")
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["missing", "--model", "x"], "no dataset named 'missing'"),
    (["999", "--model", "x"], "no dataset with id 999"),
    (["tiny ud", "--model", "x", "--owner", "nobody"], "no user named 'nobody'"),
    (["tiny ud", "--model", "x", "--epochs", "0"], "training.epochs: must be between 1 and 10000, not 0"),
    (["tiny ud", "--model", "no/slash"], "model name 'no/slash' is not valid"),
])
def test_it_names_what_is_wrong(alice, tagging_data, args, message):
    with pytest.raises(CommandError, match=message.replace("(", "\\(")):
        train(*args)
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(("text", "message"), [
    ('{\n  "training": {"epochs": 2,}\n}', r"--config .*bad.json, line 2: not JSON: Expecting property name"),
    ('["training"]', "must be a JSON object with sections tokenizer, architecture, training"),
    ('{"dataset": {}}', "unknown section 'dataset'; the sections are tokenizer, architecture, training, data"),
    ('{"data": {"format": "tsv"}}', "data.format is the dataset's"),
    ('{"training": 3}', "training must be an object, not int"),
    ('{"architecture": {"cell": "lstmm"}}', "architecture.cell: must be one of"),
])
def test_it_names_what_is_wrong_in_the_config_file(alice, tagging_data, tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        train("tiny ud", "--model", "x", "--config", path)
    assert not TrainingJob.objects.exists()


def test_it_says_when_the_config_file_is_missing(alice, tagging_data, tmp_path):
    with pytest.raises(CommandError, match="--config .*nothing.json: No such file or directory"):
        train("tiny ud", "--model", "x", "--config", tmp_path / "nothing.json")
