"""HTTP endpoints of serving: predict with a model version, score a version on a dataset."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.registry.selectors import version_to_serve
from apps.serving.serializers import EvaluateInput, EvaluateOutput, PredictInput, PredictOutput
from apps.serving.services import evaluate_dataset, predict
from rnnservice.lean import LeanApiView
from rnnservice.throttling import PredictRateThrottle

# One instance for every request: a serializer copies its declared fields when made, which cost more than the
# validation itself; validating (run_validation) keeps no state on it, so threads may share it.
_PREDICT_INPUT = PredictInput()


class PredictApi(LeanApiView):
    """The serving hot path: DRF's authentication, throttles, parser and error answers, without its content
    negotiation and rendering (rnnservice/lean.py)."""

    throttle_classes = (PredictRateThrottle,)

    @extend_schema(operation_id="predict", request=PredictInput, responses=PredictOutput, examples=[
        OpenApiExample("texts", request_only=True, value={"inputs": ["a witty and charming movie .", "dull ."]}),
        OpenApiExample("tokens", request_only=True, value={"inputs": [{"tokens": ["EU", "rejects", "Bonn", "call"]}]}),
        OpenApiExample("series", request_only=True, value={"inputs": [{"values": [[0.1, 1.2], [0.4, 0.9], [0.8, 0.3]]},
                                                                      {"values": [[0.0, 1.0]]}]}),
    ])
    def post(self, request: Request, name: str) -> dict[str, Any]:
        """Predict with a version of a model: one output per input. The answer's `task` says which outputs
        these are (a label and probabilities, tags, a translation...)."""
        data = _PREDICT_INPUT.run_validation(request.data)
        # One query on this hot path; a model the user cannot see is a 404, as if it did not exist.
        chosen = version_to_serve(user=request.user, name=name, version=data.get("version"), alias=data.get("alias"))
        return predict(chosen=chosen, inputs=data["inputs"], options=data.get("options"))


class EvaluateApi(APIView):
    @extend_schema(operation_id="evaluate", request=EvaluateInput, responses=EvaluateOutput)
    def post(self, request: Request, name: str) -> Response:
        """Score a version of a model on a split of one of your data sets, with the task's metrics."""
        payload = EvaluateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        # The version is chosen as predict chooses it (version, alias, production, newest).
        chosen = version_to_serve(user=request.user, name=name, version=data.pop("version", None),
                                  alias=data.pop("alias", None))
        return Response(evaluate_dataset(user=request.user, chosen=chosen, dataset_id=data.pop("dataset"), **data))
