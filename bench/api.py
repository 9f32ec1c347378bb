from __future__ import annotations

from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from bench.floors import intake_round_trips
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
    """The plaintext baseline: a plain ModelSerializer into a plain table, behind the
    project's default DRF stack (the partner's token, tenant membership, throttling) that
    the order API sits behind too: the difference is what confidentiality adds."""

    serializer_class = PlainOrderSerializer


class BarePlainOrderCreate(PlainOrderCreate):
    """The same without authentication or throttling (reported beside, for reference)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes: list[type] = []


class FloorOrderCreate(PlainOrderCreate):
    """The floor under intake, behind the same stack: the plaintext baseline after the two
    round trips intake cannot skip before its write (``bench.floors.intake_round_trips``;
    ``?new=1``: a new customer's, with the key row inserted)."""

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        intake_round_trips(new=self.request.query_params.get("new") == "1")
        serializer.save()
