"""
The JSON API's URLs; include them with ``path("batchrun/", include(...))``.

Run ids are matched as any path segment and checked by the views, so that
``runlogs/abc.json`` is a JSON 400, not the project's HTML 404 page.
"""

from django.urls import path

from . import views

app_name = "batchrun"

urlpatterns = [
    path("runlogs.json", views.run_list, name="runlogs"),
    path("runlogs/<str:run_id>.json", views.run_detail, name="runlog"),
    path("runlogs/<str:run_id>.txt", views.run_text, name="runlog-text"),
    path("health.json", views.health, name="health"),
]
