"""HTTP endpoints of the training app: parse the request, call one service or selector, serialize."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.training.selectors import job_get, job_list
from apps.training.serializers import JobLaunchInput, JobListOutput, JobOutput
from apps.training.services import job_cancel, job_delete, job_launch
from rnnservice.api import ErrorOutput, Pagination, paginated_response


class JobListApi(APIView):
    pagination_class = Pagination

    @extend_schema(operation_id="jobs_list", responses=JobListOutput(many=True))
    def get(self, request: Request) -> Response:
        """List your training jobs, newest first."""
        return paginated_response(queryset=job_list(user=request.user), serializer_class=JobListOutput,
                                  request=request, view=self)

    @extend_schema(operation_id="job_launch", request=JobLaunchInput, responses={201: JobOutput})
    def post(self, request: Request) -> Response:
        """Launch training on a valid data set: the job is queued for a worker, and its version is added to
        `model_name` when it succeeds."""
        payload = JobLaunchInput(data=request.data, context={"request": request})
        payload.is_valid(raise_exception=True)
        job = job_launch(owner=request.user, **payload.validated_data)
        return Response(JobOutput(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    @extend_schema(operation_id="job_get", responses=JobOutput)
    def get(self, request: Request, pk: int) -> Response:
        """Show a job: status, progress, one row per epoch, log tail and, once it succeeded, its version."""
        return Response(JobOutput(job_get(user=request.user, pk=pk)).data)

    @extend_schema(operation_id="job_delete", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Delete a finished job's record (its version stays)."""
        job_delete(job=job_get(user=request.user, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobCancelApi(APIView):
    @extend_schema(operation_id="job_cancel", request=None, responses={200: JobOutput, 409: ErrorOutput})
    def post(self, request: Request, pk: int) -> Response:
        """Cancel a job: a queued one at once, a running one at the end of its epoch. A 409 once it has finished
        or while it saves its version."""
        job = job_cancel(job=job_get(user=request.user, pk=pk))
        return Response(JobOutput(job).data)
