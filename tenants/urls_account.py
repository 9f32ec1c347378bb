from django.urls import path

from tenants import account_views

app_name = "account"
urlpatterns = [
    path("two-factor/setup/", account_views.setup, name="two-factor-setup"),
    path(
        "two-factor/recovery-codes/",
        account_views.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("two-factor/verify/", account_views.verify, name="two-factor-verify"),
]
