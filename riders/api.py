"""Dispatch through the API: assign a rider, or let Baomi pick the least-loaded one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.selectors import get_order_for
from orders.serializers import OrderOut, StrictSerializer
from riders.dispatch import assign_rider, auto_assign
from riders.selectors import rider_by_pk
from tenants.models import IntegrationToken
from tenants.schema import ERROR_HEADERS, error_responses


class AssignIn(StrictSerializer):
    rider = serializers.IntegerField(min_value=1)


def _actor(request: Request) -> Any:
    return request.auth if isinstance(request.auth, IntegrationToken) else request.user


class AssignView(APIView):
    @extend_schema(
        request=AssignIn,
        parameters=ERROR_HEADERS,
        responses={
            **error_responses(400, 404, 413),
            200: OrderOut,
            409: inline_serializer(
                "AssignConflict",
                {
                    "detail": serializers.CharField(),
                    "missing": serializers.ListField(child=serializers.CharField()),
                },
            ),
        },
        summary="Assign (or reassign) a rider",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        order = get_order_for(_actor(request), order_id, for_write=False)
        payload = AssignIn(data=request.data)
        payload.is_valid(raise_exception=True)
        rider = rider_by_pk(payload.validated_data["rider"])
        if rider is None:
            raise serializers.ValidationError({"rider": ["No such rider."]})
        assign_rider(order=order, rider=rider, actor=_actor(request))
        return Response(OrderOut(order).data)


class AutoAssignView(APIView):
    @extend_schema(
        request=None,
        parameters=ERROR_HEADERS,
        responses={
            200: OrderOut,
            **error_responses(404, 409, 413),
        },
        summary="Assign the least-loaded eligible rider",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        order = get_order_for(_actor(request), order_id, for_write=False)
        auto_assign(order=order, actor=_actor(request))
        return Response(OrderOut(order).data)
