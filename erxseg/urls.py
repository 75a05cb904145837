from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from contacts.api import CompanyViewSet, CustomerViewSet

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("companies", CompanyViewSet, basename="company")

admin.site.site_header = "erxseg"
admin.site.site_title = "erxseg"
admin.site.index_title = "Contacts, segments and events"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
]
