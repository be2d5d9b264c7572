"""
The access rules and JSON errors shared by every view of the JSON API.

* 401 without an authenticated user (never a redirect to a login page),
* 403 for a user without the ``batchrun.view_jobrun`` permission,
* 405 for any method but GET and HEAD, CSRF token or not,
* 400 for a :class:`~batchrun.exceptions.ParameterError` a view raises.

Responses are never cached: run output may hold secrets.
"""

import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from .exceptions import ParameterError

VIEW_PERMISSION = "batchrun.view_jobrun"


def error_response(status: int, message: str, **extra) -> JsonResponse:
    """Return a JSON error: ``{"error": message, **extra}``."""
    return JsonResponse({"error": message, **extra}, status=status)


def api_view(
    view: Callable | None = None, *, requires_auth: Callable[[], bool] | None = None
) -> Callable:
    """
    Wrap a view with the API's access rules and JSON errors.

    ``requires_auth`` is called per request; by default every request needs
    a user with the view permission on runs.
    """
    if view is None:
        return functools.partial(api_view, requires_auth=requires_auth)

    @csrf_exempt  # No view changes anything; other methods get a JSON 405.
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = _refuse(request, requires_auth is None or requires_auth())
        if response is None:
            try:
                response = view(request, *args, **kwargs)
            except ParameterError as error:
                response = error_response(400, error.message, parameter=error.parameter)
        add_never_cache_headers(response)
        return response

    return wrapper


def _refuse(request: HttpRequest, requires_auth: bool) -> JsonResponse | None:
    if requires_auth:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return error_response(
                401,
                "Authentication required: log in as a user with the "
                f"{VIEW_PERMISSION} permission.",
            )
        if not user.has_perm(VIEW_PERMISSION):
            return error_response(
                403, f"Permission denied: this needs the {VIEW_PERMISSION} permission."
            )
    if request.method not in ("GET", "HEAD"):
        response = error_response(
            405, f"Method {request.method} is not allowed; use GET or HEAD."
        )
        response["Allow"] = "GET, HEAD"
        return response
    return None
