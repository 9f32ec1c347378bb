from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import HttpRequest

from tenants.two_factor import two_factor_satisfied


class BaomiAdminSite(AdminSite):
    """The back office lets in only users who gave their second factor this session when
    their role needs one (like django-otp's OTPAdminSite, for those roles only). The gate
    middleware sends them to enrol or verify first; this is the admin's own check."""

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and two_factor_satisfied(request.user)
