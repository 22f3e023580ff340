"""Log lines that say what they belong to: the request id (X-Request-ID) in a web process; the task id and the
ids among the task's arguments (job_id, dataset_id) in a Celery task. settings.LOGGING adds them to every line
through LogContextFilter, as fields of a JSON line (RNNSERVICE_LOG_FORMAT=json) or as a [key=value] part of a
text line."""
from __future__ import annotations

import contextvars
import inspect
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when short and plain: it goes into every log line of the request and back to the
# client, so it must not be able to forge a line or carry markup.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar("rnnservice_log", default=())
_task_tokens: dict[str, contextvars.Token] = {}


def log_context() -> dict[str, str]:
    """What the current request or task adds to its log lines: {"request_id": ...} or {"task_id": ..., ...}."""
    return dict(_context.get())


class LogContextFilter(logging.Filter):
    """Adds the log context to each record: one attribute per key for the JSON formatter, which writes the
    attributes it finds; or, with `as_text`, one `context` attribute, " [key=value ...]" or "", for the text
    format. A handler filter, so every line that reaches the handler gets it, from any logger."""

    def __init__(self, as_text: bool = False):
        super().__init__()
        self.as_text = as_text

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if self.as_text:
            record.context = " [" + " ".join(f"{key}={value}" for key, value in context) + "]" if context else ""
        else:
            for key, value in context:
                record.__dict__.setdefault(key, value)      # a field given with `extra=` wins
        return True


class RequestIdMiddleware:
    """Gives each request an id: the client's X-Request-ID when it is plain, else a new one. The id is in every
    log line written while the request is handled and in the response's X-Request-ID. It stays in the context
    until request_finished (request_context_clear): Django logs a 4xx answer ("Not Found: ...") after the
    middleware has returned, and the web server its access line after that."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _PLAIN_ID.fullmatch(incoming) else uuid.uuid4().hex
        _context.set((("request_id", request_id),))
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def request_context_clear(**_: Any) -> None:
    """Django's request_finished: the next lines of this thread belong to no request."""
    _context.set(())


def task_context_enter(sender: Any = None, task_id: str = "", task: Any = None, args: Any = (),
                       kwargs: Any = None, **_: Any) -> None:
    """Celery's task_prerun: the task's log lines carry its id and the ids it was given (job_id, dataset_id)."""
    context = {"task_id": task_id, **_id_arguments(task, args or (), kwargs or {})}
    _task_tokens[task_id] = _context.set(tuple(context.items()))


def task_context_exit(sender: Any = None, task_id: str = "", **_: Any) -> None:
    """Celery's task_postrun: back to the context from before the task (none, on a worker)."""
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _context.reset(token)


def _id_arguments(task: Any, args: tuple, kwargs: dict) -> dict[str, str]:
    """The task's arguments whose names end in _id, by name, whether they were passed by position or name."""
    try:
        bound = inspect.signature(task.run).bind_partial(*args, **kwargs)
    except (AttributeError, TypeError, ValueError):
        return {}
    return {name: str(value) for name, value in bound.arguments.items() if name.endswith("_id")}
