"""HTTP endpoints of serving: predict with a model version, score a version on a dataset."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.registry.selectors import model_get_visible
from apps.serving.serializers import EvaluateInput, EvaluateOutput, PredictInput, PredictOutput
from apps.serving.services import evaluate_dataset, predict


class PredictApi(APIView):
    @extend_schema(request=PredictInput, responses=PredictOutput)
    def post(self, request: Request, name: str) -> Response:
        model = model_get_visible(user=request.user, name=name)          # 404 for models you cannot see
        payload = PredictInput(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response(predict(model=model, **payload.validated_data))


class EvaluateApi(APIView):
    @extend_schema(request=EvaluateInput, responses=EvaluateOutput)
    def post(self, request: Request, name: str) -> Response:
        model = model_get_visible(user=request.user, name=name)
        payload = EvaluateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        return Response(evaluate_dataset(user=request.user, model=model, dataset_id=data.pop("dataset"), **data))
