from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from unfold.forms import AuthenticationForm
from unfold.sites import UnfoldAdminSite

from tenants.landing import landings_for
from tenants.two_factor import two_factor_satisfied


class BackOfficeLoginForm(AuthenticationForm):
    """The admin's login form; a user who works outside the back office (a rider) is told
    where to log in instead of "enter the correct username and password"."""

    def confirm_login_allowed(self, user: Any) -> None:
        pages = landings_for(user)
        if not user.is_staff and pages:
            raise ValidationError(
                _("This account works on its own page: log in at %(url)s.") % {"url": pages[0].url},
                code="elsewhere",
            )
        super().confirm_login_allowed(user)


class BaomiAdminSite(UnfoldAdminSite):
    """The back office lets in only users who gave their second factor this session when
    their role needs one (like django-otp's OTPAdminSite, for those roles only). The gate
    middleware sends them to enrol or verify first; this is the admin's own check."""

    login_form = BackOfficeLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and two_factor_satisfied(request.user)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        # Links to the stations and pages of the user's roles, in the header.
        context["work_pages"] = landings_for(request.user)
        return context

    def index(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """A user the admin has nothing to show (kitchen, packer, rider) goes to their work
        page instead of an empty index; a role whose work page is ``primary`` (the
        dispatcher's board) goes there even when the admin has models to show."""
        pages = landings_for(request.user)
        primary = [page for page in pages if page.primary]
        if primary:
            return redirect(primary[0].url)
        if pages and not self.get_app_list(request):
            return redirect(pages[0].url)
        return super().index(request, extra_context)
