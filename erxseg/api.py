"""Shared pieces of the REST API: the error format, permissions and paging.

Every error the API returns has one shape::

    {"error": {"status": 400, "code": "invalid",
               "message": "The request is invalid. Fix the fields listed.",
               "fields": {"custom_fields": {"plan": ["..."]}}}}

`fields` appears only for validation errors and mirrors the request body;
segment rules errors are keyed by the condition's path inside `rules`.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

DEFAULT_MESSAGES = {
    status.HTTP_400_BAD_REQUEST: _("The request is invalid. Fix the fields listed."),
    status.HTTP_401_UNAUTHORIZED: _(
        "Authentication is required. Log in or send a token in the "
        "Authorization header."
    ),
    status.HTTP_403_FORBIDDEN: _("You do not have permission to do this."),
    status.HTTP_404_NOT_FOUND: _("Not found. Check the address and the id."),
    status.HTTP_405_METHOD_NOT_ALLOWED: _("This method is not allowed here."),
    status.HTTP_409_CONFLICT: _("The request conflicts with the stored data."),
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = DEFAULT_MESSAGES[status.HTTP_409_CONFLICT]
    default_code = "conflict"


def error_body(status_code: int, code: str, message: str, fields=None) -> dict:
    body = {"status": status_code, "code": code, "message": str(message)}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


def _first_code(codes) -> str:
    while isinstance(codes, (list, dict)):
        if not codes:
            return "invalid"
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def exception_handler(exc, context):
    """Return every API error in the one JSON shape described above."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = Conflict(exc.args[0] if exc.args else None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else None
        if fields is None:
            message = " ".join(str(item) for item in exc.detail)
        else:
            message = DEFAULT_MESSAGES[status.HTTP_400_BAD_REQUEST]
        code = "invalid"
    else:
        fields = None
        detail = exc.detail if isinstance(exc, exceptions.APIException) else None
        message = (
            str(detail) if detail else DEFAULT_MESSAGES.get(response.status_code, "")
        )
        code = _first_code(exc.get_codes()) if hasattr(exc, "get_codes") else "error"

    response.data = error_body(response.status_code, code, message, fields)
    return response


def not_found(request, *args, **kwargs):
    """Return a 404 in the API's error format for an unknown address under /api/."""
    return JsonResponse(
        error_body(404, "not_found", DEFAULT_MESSAGES[status.HTTP_404_NOT_FOUND]),
        status=404,
    )


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class MemberCursorPagination(CursorPagination):
    """Stable paging through members by id, however large the segment."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"


def validation_error_response(fields: dict) -> Response:
    return Response(
        error_body(
            400, "invalid", DEFAULT_MESSAGES[status.HTTP_400_BAD_REQUEST], fields
        ),
        status=status.HTTP_400_BAD_REQUEST,
    )
