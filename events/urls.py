from django.urls import path

from events.api import CustomerPropertiesView, IdentifyView, TrackView

urlpatterns = [
    path("track", TrackView.as_view(), name="events-track"),
    path("identify", IdentifyView.as_view(), name="events-identify"),
    path(
        "customer-properties",
        CustomerPropertiesView.as_view(),
        name="events-customer-properties",
    ),
]
