"""The caller's identity in the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.models import Tenant
from tenants.roles import roles_of
from tenants.schema import ERROR_HEADERS, error_responses


class MeView(APIView):
    """Who the caller is: their tenant and roles."""

    @extend_schema(
        parameters=ERROR_HEADERS,
        responses={
            200: inline_serializer(
                "Me",
                {
                    "username": serializers.CharField(allow_null=True),
                    "tenant": inline_serializer(
                        "MeTenant",
                        {"slug": serializers.CharField(), "name": serializers.CharField()},
                    ),
                    "roles": serializers.ListField(child=serializers.CharField()),
                },
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request) -> Response:
        tenant: Tenant = request.tenant
        user = request.user if request.user.is_authenticated else None
        return Response(
            {
                "username": user.get_username() if user else None,
                "tenant": {"slug": tenant.slug, "name": tenant.name},
                "roles": sorted(roles_of(user)) if user else [],
            }
        )
