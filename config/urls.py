from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from config.api_docs import SchemaView, SwaggerView
from tenants.api import MeView

if settings.BAOMI_BENCH:
    from bench.api import BarePlainOrderCreate, FloorOrderCreate, PlainOrderCreate

api_v1 = [
    path("me/", MeView.as_view(), name="me"),
    path("", include("orders.urls_api")),
    path("", include("riders.urls_api")),
]

urlpatterns: list = (
    []
    if not settings.BAOMI_BENCH
    else [
        path("bench/plain-orders/", PlainOrderCreate.as_view()),
        path("bench/bare-plain-orders/", BarePlainOrderCreate.as_view()),
        path("bench/floor-orders/", FloorOrderCreate.as_view()),
    ]
)
urlpatterns += [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Browsers ask for /favicon.ico whatever the page links.
    path("favicon.ico", RedirectView.as_view(url=static("baomi/favicon.svg"), permanent=False)),
    path("admin/", admin.site.urls),
    path("account/", include("tenants.urls_account")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("orders/", include("orders.urls")),
    path("rider/", include("riders.urls")),
    path("training/", include("training.urls")),
    # The supervisor dashboard (issue 20); /dashboard/ is where people guess it is.
    path("supervisor/", include("audits.urls")),
    path(
        "dashboard/",
        RedirectView.as_view(pattern_name="audits:dashboard", permanent=False, query_string=True),
    ),
    path("privacy/report/", include("incidents.urls")),
    path("privacy/", include("privacy.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    # Staff and integration tokens only (config/api_docs.py).
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# JSON under /api/, Django's pages elsewhere; an outage is a 503 (config/api_errors.py).
handler400 = "config.api_errors.bad_request"
handler403 = "config.api_errors.permission_denied"
handler404 = "config.api_errors.page_not_found"
handler500 = "config.api_errors.server_error"
