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


class DatasetListApi(APIView):
    parser_classes = (MultiPartParser,)         # files: the one content type of the upload
    pagination_class = Pagination

    @extend_schema(operation_id="datasets_list", responses=DatasetOutput(many=True))
    def get(self, request: Request) -> Response:
        """List your data sets, newest first."""
        return paginated_response(queryset=dataset_list(user=request.user), serializer_class=DatasetOutput,
                                  request=request, view=self)

    @extend_schema(operation_id="dataset_upload", request=DatasetCreateInput, responses={201: DatasetOutput})
    def post(self, request: Request) -> Response:
        """Upload a data set (multipart). It is pending until a worker has read it: then valid, with its
        statistics, or invalid, with the file and line at fault."""
        payload = DatasetCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        dataset = dataset_create(owner=request.user, **payload.validated_data)
        return Response(DatasetOutput(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    @extend_schema(operation_id="dataset_get", responses=DatasetOutput)
    def get(self, request: Request, pk: int) -> Response:
        """Show a data set: its status, error or statistics."""
        return Response(DatasetOutput(dataset_get(user=request.user, pk=pk)).data)

    @extend_schema(operation_id="dataset_delete", responses={204: None, 409: ErrorOutput})
    def delete(self, request: Request, pk: int) -> Response:
        """Delete a data set and its files. A 409 while training jobs still use it."""
        dataset_delete(dataset=dataset_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
