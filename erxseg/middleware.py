"""Response headers that Django's SecurityMiddleware does not set."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# The admin and the rule builder load scripts only from static files, so no
# inline script may run. Inline style attributes stay allowed because the
# Django admin and the colour swatches use them.
ADMIN_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
ADMIN_PATH_PREFIX = "/admin/"


class ContentSecurityPolicyMiddleware:
    """Add a Content-Security-Policy header to every admin response.

    Only the admin gets the policy: the Swagger and ReDoc pages under
    /api/docs/ and /api/redoc/ start with inline scripts.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(ADMIN_PATH_PREFIX):
            response.headers.setdefault(
                "Content-Security-Policy", ADMIN_CONTENT_SECURITY_POLICY
            )
        return response
