from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/batchrun/")),
    path("admin/", admin.site.urls),
    path("batchrun/", include("batchrun.urls")),
]
