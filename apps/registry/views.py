"""HTTP endpoints of the registry: list and show models with their versions and aliases, set an alias."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.registry.selectors import alias_get, model_get_visible, model_list, version_list
from apps.registry.serializers import (
    AliasInput,
    AliasOutput,
    ModelDetailOutput,
    ModelOutput,
    ModelUpdateInput,
)
from apps.registry.services import alias_set, model_update
from rnnservice.api import ErrorOutput, Pagination, paginated_response


class ModelListApi(APIView):
    pagination_class = Pagination

    @extend_schema(operation_id="models_list", responses=ModelOutput(many=True))
    def get(self, request: Request) -> Response:
        """List your registered models with their aliases."""
        return paginated_response(queryset=model_list(user=request.user), serializer_class=ModelOutput,
                                  request=request, view=self)


class ModelDetailApi(APIView):
    @extend_schema(operation_id="model_get", responses=ModelDetailOutput)
    def get(self, request: Request, name: str) -> Response:
        """Show a model with its versions: metrics, labels, configuration, aliases."""
        model = model_get_visible(user=request.user, name=name)
        return Response(ModelDetailOutput(model, context={"versions": version_list(model=model)}).data)

    @extend_schema(operation_id="model_update", request=ModelUpdateInput, responses=ModelDetailOutput)
    def patch(self, request: Request, name: str) -> Response:
        """Change a model's description."""
        model = model_get_visible(user=request.user, name=name)
        payload = ModelUpdateInput(data=request.data, partial=True)     # PATCH: what is left out stays
        payload.is_valid(raise_exception=True)
        model = model_update(model=model, **payload.validated_data)
        return Response(ModelDetailOutput(model, context={"versions": version_list(model=model)}).data)


class AliasApi(APIView):
    @extend_schema(operation_id="alias_set", request=AliasInput,
                   responses={200: AliasOutput, 201: AliasOutput, 409: ErrorOutput})
    def post(self, request: Request, name: str) -> Response:
        """Point an alias at a version: 201 when the alias is new, 200 when it moved (or already pointed there); 409
        listing the differences for a move to a version with other labels or input kind, unless confirm is true."""
        model = model_get_visible(user=request.user, name=name)
        payload = AliasInput(data=request.data)
        payload.is_valid(raise_exception=True)
        is_new = alias_get(model=model, name=payload.validated_data["alias"]) is None
        alias = alias_set(model=model, alias=payload.validated_data["alias"],
                          version_number=payload.validated_data["version"], confirm=payload.validated_data["confirm"])
        return Response(AliasOutput(alias).data, status=status.HTTP_201_CREATED if is_new else status.HTTP_200_OK)
