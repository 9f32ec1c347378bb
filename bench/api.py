from __future__ import annotations

from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from bench.models import PlainOrder


class PlainOrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlainOrder
        fields = [
            "id",
            "name",
            "phone",
            "address",
            "note",
            "items",
            "privacy_notice_version",
            "created_at",
        ]


class PlainOrderCreate(generics.CreateAPIView):
    """The plaintext baseline endpoint: a plain ModelSerializer into a plain table."""

    serializer_class = PlainOrderSerializer
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes: list[type] = []
