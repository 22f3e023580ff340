"""The README's path through the API with the client that openapi-python-client generates from /api/schema/
(the package `rnnservice_client`), and nothing else: every request and answer is one of its types. Typed end to
end, so that `mypy --strict` on this file checks that the outputs' fields have names and types (label,
probabilities, tags, translation...). tests/contract/test_python_client.py generates the client, runs these
steps against a live server and runs mypy on this file."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rnnservice_client import AuthenticatedClient, Client
from rnnservice_client.api.auth import auth_token_create
from rnnservice_client.api.datasets import dataset_get, dataset_upload
from rnnservice_client.api.models import alias_set, evaluate, model_get, predict
from rnnservice_client.api.training_jobs import job_get, job_launch
from rnnservice_client.models import (
    Alias,
    AliasRequest,
    ArchitectureConfig,
    AuthToken,
    AuthTokenRequest,
    ClassificationPrediction,
    Dataset,
    DatasetCreateRequest,
    DatasetStatusEnum,
    Error,
    Evaluate,
    EvaluateRequest,
    Job,
    JobLaunchRequest,
    ModelDetail,
    PredictOptions,
    PredictRequest,
    SeriesInput,
    TaggingPrediction,
    TaskEnum,
    TokensInput,
    TrainingConfig,
    TrainingJobStatusEnum,
    TranslationPrediction,
)
from rnnservice_client.types import File

T = TypeVar("T")


class Refused(Exception):
    """An answer that is the API's Error: its typed fields, as a client reads them."""

    def __init__(self, error: Error):
        super().__init__(error.detail)
        self.error = error


def answer(result: T | Error | None) -> T:
    """The answer of a call, or Refused with its Error (None: a status the schema does not declare)."""
    if isinstance(result, Error):
        raise Refused(result)
    assert result is not None, "an answer the schema does not declare"
    return result


def log_in(base_url: str, username: str, password: str) -> AuthenticatedClient:
    """POST /api/auth/token/, then a client that sends the token (as `Bearer`, the generated client's word)."""
    token = answer(auth_token_create.sync(client=Client(base_url=base_url),
                                          body=AuthTokenRequest(username=username, password=password)))
    assert isinstance(token, AuthToken)
    return AuthenticatedClient(base_url=base_url, token=token.token)


def upload(client: AuthenticatedClient, name: str, train: Path, test: Path) -> Dataset:
    """A classification data set from a training and a test file."""
    with train.open("rb") as train_file, test.open("rb") as test_file:
        body = DatasetCreateRequest(name=name, task=TaskEnum.CLASSIFICATION,
                                    train=File(payload=train_file, file_name=train.name),
                                    test=File(payload=test_file, file_name=test.name))
        return answer(dataset_upload.sync(client=client, body=body))


def wait_until_valid(client: AuthenticatedClient, dataset: Dataset, work: Callable[[], None]) -> Dataset:
    """Poll the data set until a worker (`work`) has read it."""
    for _ in range(50):
        work()
        dataset = answer(dataset_get.sync(dataset.id, client=client))
        if dataset.status != DatasetStatusEnum.PENDING:
            break
        time.sleep(0.1)
    assert dataset.status == DatasetStatusEnum.VALID, dataset.error
    return dataset


def train(client: AuthenticatedClient, dataset: Dataset, model_name: str, work: Callable[[], None]) -> Job:
    """Launch a tiny job and poll it until it has finished; its epochs and version, typed."""
    body = JobLaunchRequest(dataset=dataset.id, model_name=model_name,
                            architecture=ArchitectureConfig(embed_dim=8, hidden_dim=16, num_layers=1),
                            training=TrainingConfig(epochs=2, batch_size=4))
    job = answer(job_launch.sync(client=client, body=body))
    for _ in range(100):
        work()
        job = answer(job_get.sync(job.id, client=client))
        if job.status not in (TrainingJobStatusEnum.QUEUED, TrainingJobStatusEnum.RUNNING):
            break
        time.sleep(0.1)
    assert job.status == TrainingJobStatusEnum.SUCCEEDED, job.error
    assert [epoch.epoch for epoch in job.epochs] == [1, 2] and job.version is not None
    return job


def promote(client: AuthenticatedClient, model: str, version: int) -> Alias:
    return answer(alias_set.sync(model, client=client, body=AliasRequest(alias="production", version=version)))


def show(client: AuthenticatedClient, model: str) -> ModelDetail:
    return answer(model_get.sync(model, client=client))


def classify(client: AuthenticatedClient, model: str, texts: list[str]) -> list[tuple[str, float]]:
    """Each text's label and its probability."""
    prediction = answer(predict.sync(model, client=client, body=PredictRequest(inputs=[*texts])))
    assert isinstance(prediction, ClassificationPrediction), prediction
    return [(output.label, output.probabilities[output.label]) for output in prediction.outputs]


def tag(client: AuthenticatedClient, model: str, tokens: list[str]) -> list[tuple[str, str, float]]:
    """Each token with its tag and score, for a text already split."""
    prediction = answer(predict.sync(model, client=client, body=PredictRequest(inputs=[TokensInput(tokens=tokens)])))
    assert isinstance(prediction, TaggingPrediction), prediction
    output = prediction.outputs[0]
    assert isinstance(output.tokens, list)
    return list(zip(output.tokens, output.tags, output.scores, strict=True))


def translate(client: AuthenticatedClient, model: str, text: str, beam_size: int) -> str:
    body = PredictRequest(inputs=[text], options=PredictOptions(beam_size=beam_size))
    prediction = answer(predict.sync(model, client=client, body=body))
    assert isinstance(prediction, TranslationPrediction), prediction
    return prediction.outputs[0].translation


def classify_series(client: AuthenticatedClient, model: str, frames: list[float | list[float]]) -> str:
    prediction = answer(predict.sync(model, client=client, body=PredictRequest(inputs=[SeriesInput(values=frames)])))
    assert isinstance(prediction, ClassificationPrediction), prediction
    return prediction.outputs[0].label


def tag_series(client: AuthenticatedClient, model: str, frames: list[float | list[float]]) -> list[str]:
    prediction = answer(predict.sync(model, client=client, body=PredictRequest(inputs=[SeriesInput(values=frames)])))
    assert isinstance(prediction, TaggingPrediction), prediction
    return prediction.outputs[0].tags


def score(client: AuthenticatedClient, model: str, dataset: Dataset) -> Evaluate:
    return answer(evaluate.sync(model, client=client, body=EvaluateRequest(dataset=dataset.id)))


def refused_prediction(client: AuthenticatedClient, model: str) -> Error:
    """An empty text among the inputs: a 400 whose Error names the input."""
    try:
        answer(predict.sync(model, client=client, body=PredictRequest(inputs=["fine", " "])))
    except Refused as refused:
        return refused.error
    raise AssertionError("an empty text was predicted")


def missing_model(client: AuthenticatedClient) -> Error:
    response = model_get.sync_detailed("no-such-model", client=client)
    assert response.status_code == 404 and isinstance(response.parsed, Error)
    return response.parsed
