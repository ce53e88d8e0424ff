from django.urls import include, path

urlpatterns = [
    # Other languages' backends publish here with REALTIME_API_KEY (optional).
    path("api/", include("realtime.events.urls")),
]
