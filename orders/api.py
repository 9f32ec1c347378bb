"""The orders API: thin views over orders.intake, orders.lifecycle and orders.selectors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.keyset_api import KeysetPagination
from orders.intake import create_order
from orders.lifecycle import transition_order
from orders.permissions import Action, may
from orders.selectors import get_order_for, orders_listed
from orders.serializers import (
    OrderCreatedOut,
    OrderFilterIn,
    OrderIn,
    OrderOut,
    RevealIn,
    TransitionIn,
)
from privacy.api import NoticeChannel, reveal
from tenants.models import IntegrationToken
from tenants.schema import ERROR_HEADERS, error_responses


def _actor(request: Request) -> Any:
    return request.auth if isinstance(request.auth, IntegrationToken) else request.user


class OrderPages(KeysetPagination):
    """Newest first, by the index ``order_list`` (tenant, created_at DESC, id DESC): every
    page costs the same however many orders the tenant holds, and nothing is counted."""

    ordering = ("-created_at", "-id")


class OrderListView(APIView):
    pagination_class = OrderPages  # the schema declares the page object from it

    @extend_schema(
        parameters=[OrderFilterIn, *ERROR_HEADERS],
        responses={200: OrderOut(many=True), **error_responses(400)},
        summary="List orders (masked)",
    )
    def get(self, request: Request) -> Response:
        filters = OrderFilterIn(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        orders = orders_listed(
            _actor(request),
            status=wanted.get("status"),
            created_after=wanted.get("created_after"),
            created_before=wanted.get("created_before"),
        )
        paginator = self.pagination_class()
        # Only the columns the list shows: never the sealed ones (orders.serializers).
        page = paginator.paginate_queryset(
            orders.values(*OrderOut.LIST_COLUMNS), request, view=self
        )
        return paginator.get_paginated_response(OrderOut(page, many=True).data)

    @extend_schema(
        request=OrderIn,
        parameters=ERROR_HEADERS,
        responses={201: OrderCreatedOut, **error_responses(400, 409, 413)},
        summary="Take an order",
    )
    def post(self, request: Request) -> Response:
        actor = _actor(request)
        if not may(actor, Action.CREATE):
            raise PermissionDenied()
        payload = OrderIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        channel = NoticeChannel.API if isinstance(actor, IntegrationToken) else NoticeChannel.PHONE
        created = create_order(
            tenant=request.tenant,
            actor=actor,
            customer=data["customer"],
            items=[dict(item) for item in data["items"]],
            note=data.get("note", ""),
            privacy_notice_version=data["privacy_notice_version"],
            channel=channel,
        )
        response = Response(OrderCreatedOut(created).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class OrderDetailView(APIView):
    @extend_schema(
        parameters=ERROR_HEADERS,
        responses={200: OrderOut, **error_responses(404)},
        summary="One order (masked)",
    )
    def get(self, request: Request, order_id: UUID) -> Response:
        return Response(OrderOut(get_order_for(_actor(request), order_id, for_write=False)).data)


class OrderRevealView(APIView):
    @extend_schema(
        request=RevealIn,
        parameters=ERROR_HEADERS,
        responses={
            200: inline_serializer(
                "Revealed", {"values": serializers.DictField(child=serializers.CharField())}
            ),
            **error_responses(400, 404, 409, 410, 413, 500),
        },
        summary="Reveal fields in clear (staff sessions; audited)",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        actor = _actor(request)
        order = get_order_for(actor, order_id, for_write=False)  # 404 first: never confirm
        if isinstance(actor, IntegrationToken):
            raise PermissionDenied(_("Integration tokens never reveal personal data."))
        payload = RevealIn(data=request.data)
        payload.is_valid(raise_exception=True)
        values = reveal(
            order,
            fields=payload.validated_data["fields"],
            actor=actor,
            purpose=payload.validated_data["purpose"],
        )
        response = Response({"values": values})
        response["Cache-Control"] = "no-store"
        return response


class OrderTransitionView(APIView):
    @extend_schema(
        request=TransitionIn,
        parameters=ERROR_HEADERS,
        responses={
            **error_responses(400, 404, 413),
            200: OrderOut,
            409: inline_serializer(
                "TransitionConflict",
                {
                    "detail": serializers.CharField(),
                    "allowed": serializers.ListField(child=serializers.CharField()),
                },
            ),
        },
        summary="Move an order to another status",
    )
    def post(self, request: Request, order_id: UUID) -> Response:
        actor = _actor(request)
        order = get_order_for(actor, order_id, for_write=False)
        payload = TransitionIn(data=request.data)
        payload.is_valid(raise_exception=True)
        order = transition_order(
            order=order,
            to=payload.validated_data["to"],
            actor=actor,
            seal_number=payload.validated_data.get("seal_number", ""),
        )
        return Response(OrderOut(order).data)
