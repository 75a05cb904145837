"""Public ingest endpoints: track, identify and customer-properties.

They take no session or token. A site's public write key authenticates the
request, from the X-Erxseg-Key header or, for navigator.sendBeacon (which
cannot set headers), from `write_key` in the body. The body is read as JSON
whatever its content type, so the widget can send text/plain and skip the
CORS preflight.

Checks run cheapest first: the client's rate, the body's size and syntax,
the key, the origin, the site's rate, then each event or property.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, Throttled
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from events.identity import identify
from events.ingest import record_events, update_customer_properties
from events.models import Site
from events.payloads import (
    MAX_PROPERTIES,
    MalformedJSON,
    Rejection,
    clean_event,
    clean_identity,
    clean_property,
    clean_visitor_id,
    clock_offset,
    parse_json,
)
from events.throttling import IngestClientThrottle, IngestSiteThrottle

logger = logging.getLogger(__name__)

WRITE_KEY_HEADER = "X-Erxseg-Key"
PREFLIGHT_MAX_AGE = 24 * 60 * 60


class IngestError(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class MissingWriteKey(IngestError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "missing_write_key"


class InvalidWriteKey(IngestError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_write_key"


class SiteDisabled(IngestError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "site_disabled"


class OriginNotAllowed(IngestError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "origin_not_allowed"


class PayloadTooLarge(IngestError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class MalformedBody(IngestError):
    default_code = "malformed_json"


class InvalidPayload(IngestError):
    """Nothing in the request could be stored; `fields` names each reason."""

    default_code = "invalid"

    def __init__(self, message: str, rejected: list[dict]):
        super().__init__(message)
        self.rejected = rejected


def read_payload(request) -> dict:
    """Return the JSON object in the body, within the size limit."""
    limit = settings.ERXSEG_INGEST_MAX_BODY_BYTES
    too_large = PayloadTooLarge(
        _("The body is larger than %(limit)d bytes. Send fewer or smaller events.")
        % {"limit": limit}
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise MalformedBody(_("The Content-Length header is not a number.")) from None
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except (RequestDataTooBig, RawPostDataException):
        raise too_large from None
    if len(body) > limit:
        raise too_large
    if not body.strip():
        raise MalformedBody(_("The body is empty. Send a JSON object."))

    try:
        payload = parse_json(body)
    except MalformedJSON as error:
        raise MalformedBody(
            _("The body is not valid JSON: %(error)s") % {"error": error}
        ) from None
    if not isinstance(payload, dict):
        raise MalformedBody(_("The body must be a JSON object."))
    return payload


def find_site(request, payload: dict) -> Site:
    key = request.headers.get(WRITE_KEY_HEADER) or payload.get("write_key")
    if not key:
        raise MissingWriteKey(
            _(
                "The write key is missing. Send it in the %(header)s header or "
                "as write_key in the body."
            )
            % {"header": WRITE_KEY_HEADER}
        )
    site = None
    if isinstance(key, str) and len(key) <= 64:
        site = Site.objects.for_write_key(key).first()
    if site is None:
        raise InvalidWriteKey(
            _(
                "The write key is not valid. Copy the current key from the "
                "site's page in the admin; a rotated key stops working."
            )
        )
    if not site.is_enabled:
        raise SiteDisabled(
            _("The site %(name)s is disabled. Enable it in the admin.")
            % {"name": site.name}
        )
    return site


def any_site_allows(origin: str) -> bool:
    """Return whether an enabled site lists `origin`, for the preflight.

    A preflight carries no write key, so the site is unknown; the real
    request is checked against its own site afterwards.
    """
    sites = Site.objects.filter(is_enabled=True).only("allowed_origins")
    return any(site.allows_origin(origin) for site in sites)


class IngestView(APIView):
    """Common checks of the public endpoints; subclasses implement post()."""

    authentication_classes = []
    permission_classes = []
    # Throttles run by hand in initial(): the site's throttle needs the site.
    throttle_classes = []
    renderer_classes = [JSONRenderer]
    parser_classes = []
    site: Site | None = None
    payload: dict = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if method == "options" or not (
            method in self.http_method_names and hasattr(self, method)
        ):
            # A preflight needs no key. Dispatch answers a method the endpoint
            # lacks with 405 (the same test as here), so skip the body checks.
            return

        self._throttle(IngestClientThrottle())
        self.payload = read_payload(request)
        self.site = find_site(request, self.payload)

        origin = request.headers.get("Origin")
        if origin and not self.site.allows_origin(origin):
            raise OriginNotAllowed(
                _(
                    "The origin %(origin)s may not send events for the site "
                    "%(name)s. Add it to the site's allowed origins."
                )
                % {"origin": origin, "name": self.site.name}
            )
        self._throttle(IngestSiteThrottle())

    def _throttle(self, throttle) -> None:
        if not throttle.allow_request(self.request, self):
            raise Throttled(
                wait=throttle.wait(),
                detail=_("Too many requests. Wait and send them again."),
            )

    def options(self, request, *args, **kwargs):
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        if origin:
            allowed = (
                self.site.allows_origin(origin)
                if self.site is not None
                else any_site_allows(origin)
            )
            if allowed:
                response["Access-Control-Allow-Origin"] = origin
                response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
                response["Access-Control-Allow-Headers"] = (
                    f"Content-Type, {WRITE_KEY_HEADER}"
                )
                response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        patch_vary_headers(response, ["Origin"])
        return response

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, InvalidPayload):
            response.data["error"]["fields"] = {
                item["field"]: [item["reason"]] for item in exc.rejected
            }
            response.data["rejected"] = exc.rejected
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = f'{WRITE_KEY_HEADER} realm="ingest"'
        if isinstance(exc, MissingWriteKey | InvalidWriteKey | SiteDisabled):
            logger.warning(
                "Ingest request from %s with origin %s rejected: %s",
                IngestClientThrottle().get_ident(self.request),
                self.request.headers.get("Origin", "none"),
                exc.get_codes(),
            )
        elif isinstance(exc, OriginNotAllowed):
            logger.warning(
                "Ingest request for site %s from origin %s rejected.",
                self.site.pk,
                self.request.headers.get("Origin"),
            )
        elif response.status_code >= 400:
            logger.debug("Ingest request rejected: %s", response.data)
        return response

    def visitor_id(self) -> str:
        try:
            return clean_visitor_id(self.payload.get("visitor_id"))
        except Rejection as rejection:
            raise InvalidPayload(rejection.message, [rejection.as_dict()]) from None

    def items(self, plural: str, limit: int) -> tuple[list, str]:
        """Return the list under `plural`, or the body itself as one item."""
        if plural not in self.payload:
            return [self.payload], ""
        items = self.payload[plural]
        if not isinstance(items, list) or not items:
            raise InvalidPayload(
                _("%(field)s must be a non-empty list.") % {"field": plural},
                [{"field": plural, "reason": _("Send a non-empty list.")}],
            )
        if len(items) > limit:
            raise PayloadTooLarge(
                _("%(field)s has %(count)d items. Send at most %(limit)d per request.")
                % {"field": plural, "count": len(items), "limit": limit}
            )
        return items, plural


def _item_path(plural: str, index: int) -> str:
    return f"{plural}[{index}]" if plural else ""


def ingest_schema(summary: str, description: str):
    """Describe a public ingest endpoint in the OpenAPI schema."""
    errors = {
        code: OpenApiResponse(OpenApiTypes.OBJECT, description=text)
        for code, text in [
            (400, "Malformed JSON, or nothing in the body could be stored."),
            (401, "The write key is missing or not valid."),
            (403, "The site is disabled or the origin is not allowed."),
            (413, "The body or a list in it is too large."),
            (429, "Too many requests from this client or for this key."),
        ]
    }
    return extend_schema(
        summary=summary,
        description=description + " See docs/widget.md for the limits.",
        auth=[],
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                WRITE_KEY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The site's write key; or write_key in the body.",
            )
        ],
        responses={
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="Accepted."),
            **errors,
        },
        tags=["ingest"],
    )


class TrackView(IngestView):
    @ingest_schema(
        "Record website events",
        "One event {name, attributes, occurred_at, idempotency_key, page_url} "
        "at the top level, or up to 100 under events, with visitor_id.",
    )
    def post(self, request):
        visitor_id = self.visitor_id()
        raw_events, plural = self.items("events", settings.ERXSEG_INGEST_MAX_BATCH)
        now = timezone.now()
        try:
            offset = clock_offset(self.payload.get("sent_at"), now=now)
        except Rejection as rejection:
            raise InvalidPayload(rejection.message, [rejection.as_dict()]) from None

        cleaned, rejected = [], []
        for index, raw in enumerate(raw_events):
            path = _item_path(plural, index)
            try:
                cleaned.append(
                    clean_event(raw, index=index, path=path, now=now, offset=offset)
                )
            except Rejection as rejection:
                rejected.append(rejection.as_dict(index))
        if not cleaned:
            raise InvalidPayload(
                _("No event was accepted. Fix the events listed and send them again."),
                rejected,
            )

        result = record_events(site=self.site, visitor_id=visitor_id, events=cleaned)
        return Response(
            {"accepted": result.accepted, "rejected": rejected},
            status=status.HTTP_202_ACCEPTED,
        )


class IdentifyView(IngestView):
    @ingest_schema(
        "Identify a browser",
        "Ties visitor_id to the contact with this email, phone or code, "
        "merging the browser's visitor into it, or makes the visitor a lead.",
    )
    def post(self, request):
        visitor_id = self.visitor_id()
        try:
            identity = clean_identity(self.payload)
        except Rejection as rejection:
            raise InvalidPayload(rejection.message, [rejection.as_dict()]) from None

        identify(visitor_id=visitor_id, identity=identity)
        # The response does not reveal whether the contact was known, so the
        # public key cannot be used to probe which emails are customers.
        return Response({"accepted": True}, status=status.HTTP_202_ACCEPTED)


class CustomerPropertiesView(IngestView):
    @ingest_schema(
        "Set contact properties",
        "One {name, value} at the top level, or up to 50 under properties, "
        "with visitor_id. Names are standard fields, custom.<key> or tracked "
        "data keys.",
    )
    def post(self, request):
        visitor_id = self.visitor_id()
        raw_items, plural = self.items("properties", MAX_PROPERTIES)

        cleaned, rejected = [], []
        for index, raw in enumerate(raw_items):
            path = _item_path(plural, index)
            try:
                cleaned.append(clean_property(raw, index=index, path=path))
            except Rejection as rejection:
                rejected.append(rejection.as_dict(index))
        if cleaned:
            result = update_customer_properties(
                visitor_id=visitor_id, properties=cleaned
            )
            rejected.extend(result.rejected)
            accepted = result.accepted
        else:
            accepted = []
        if not accepted:
            raise InvalidPayload(
                _("No property was accepted. Fix the properties listed."),
                sorted(rejected, key=lambda item: item["index"]),
            )
        return Response(
            {
                "accepted": accepted,
                "rejected": sorted(rejected, key=lambda i: i["index"]),
            },
            status=status.HTTP_202_ACCEPTED,
        )
