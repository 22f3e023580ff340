"""HTTP endpoints of the datasets app: parse the request, call one service or selector, serialize."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.datasets.selectors import dataset_get, dataset_list
from apps.datasets.serializers import DatasetCreateInput, DatasetOutput
from apps.datasets.services import dataset_create, dataset_delete
from rnnservice.api import ErrorOutput, Pagination, paginated_response
from rnnservice.parsers import FormParser


class DatasetListApi(APIView):
    parser_classes = (MultiPartParser, FormParser)
    pagination_class = Pagination

    @extend_schema(responses=DatasetOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(queryset=dataset_list(user=request.user), serializer_class=DatasetOutput,
                                  request=request, view=self)

    @extend_schema(request=DatasetCreateInput, responses={201: DatasetOutput})
    def post(self, request: Request) -> Response:
        payload = DatasetCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        dataset = dataset_create(owner=request.user, **payload.validated_data)
        return Response(DatasetOutput(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    @extend_schema(responses=DatasetOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(DatasetOutput(dataset_get(user=request.user, pk=pk)).data)

    @extend_schema(responses={204: None, 409: ErrorOutput})      # 409: training jobs still use it
    def delete(self, request: Request, pk: int) -> Response:
        dataset_delete(dataset=dataset_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
