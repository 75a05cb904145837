from django.urls import re_path

from events.api import CustomerPropertiesView, IdentifyView, TrackView

# Optional trailing slash: the widget posts without one, and a redirect would
# turn the POST into a GET.
urlpatterns = [
    re_path(r"^track/?$", TrackView.as_view(), name="events-track"),
    re_path(r"^identify/?$", IdentifyView.as_view(), name="events-identify"),
    re_path(
        r"^customer-properties/?$",
        CustomerPropertiesView.as_view(),
        name="events-customer-properties",
    ),
]
