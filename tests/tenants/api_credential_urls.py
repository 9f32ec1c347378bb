"""A URLconf for testing the API's tenant scoping with a credential that names a tenant.

Integration tokens (a later issue) authenticate as "no user, a credential of tenant T";
this stands in for that credential at the authentication boundary only: the permission
class, the middleware and the scoped query under test are the product's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.urls import path
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.models import Membership, Tenant


@dataclass
class TenantCredential:
    tenant: Tenant


class TenantHeaderAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AnonymousUser, TenantCredential] | None:
        slug = request.headers.get("X-Test-Tenant")
        if slug is None:
            return None
        return AnonymousUser(), TenantCredential(Tenant.objects.get(slug=slug))


class MembershipCountView(APIView):
    authentication_classes = [TenantHeaderAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"tenant": request.tenant.slug, "memberships": Membership.objects.count()})


urlpatterns = [path("count/", MembershipCountView.as_view())]
