app_name = "batchrun"

urlpatterns = []
