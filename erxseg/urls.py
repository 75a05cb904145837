from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import DefaultRouter

from contacts.api import CompanyViewSet, CustomerViewSet
from erxseg.api import not_found
from events.read_api import EventViewSet
from segments.api import CatalogueView, SegmentViewSet

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("companies", CompanyViewSet, basename="company")
router.register("segments", SegmentViewSet, basename="segment")
router.register("events", EventViewSet, basename="event")

admin.site.site_header = "erxseg"
admin.site.site_title = "erxseg"
admin.site.index_title = "Contacts, segments and events"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("events.urls")),
    path("api/v1/catalogue/", CatalogueView.as_view(), name="catalogue"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"
    ),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Last: any other address under /api/ gets a JSON 404, not an HTML page.
    re_path(r"^api/", not_found),
]
