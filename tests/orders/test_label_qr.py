"""Issue 17: the label's QR code is a standard QR that phone scanners read (segno picks a
Micro QR for short data unless told not to), and it carries the order code only."""

from __future__ import annotations

import base64
import io
import re

import pytest
import zxingcpp
from django.test import Client
from django.urls import reverse
from PIL import Image

from orders.lifecycle import transition_order
from orders.models import Order, Status
from orders.views import qr_data_uri
from tenants.models import Role
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")

PERSONAL = ["欧阳娜娜", "13912345678", "上海市浦东新区张江路88号7栋1201室", "放门口", "宫保鸡丁"]


def _decoded(data_uri: str) -> list[zxingcpp.Result]:
    data = data_uri.split("base64,", 1)[1]
    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
    return list(zxingcpp.read_barcodes(image))


def _packed() -> Order:
    order = OrderFactory()
    kitchen = UserFactory(tenant=order.tenant, roles=[Role.KITCHEN])
    packer = UserFactory(tenant=order.tenant, roles=[Role.PACKER])
    transition_order(order=order, to=Status.PREPARING, actor=kitchen)
    return transition_order(order=order, to=Status.PACKED, actor=packer, seal_number="SEAL-77")


def test_the_labels_qr_is_a_standard_qr_carrying_the_order_code_only(client: Client) -> None:
    order = _packed()
    client.force_login(UserFactory(tenant=order.tenant, roles=[Role.PACKER]))
    html = client.get(reverse("orders:label", args=[order.pk])).content.decode()
    (uri,) = re.findall(r'src="(data:image/png;base64,[^"]+)"', html)
    (result,) = _decoded(uri)
    assert (
        result.format,
        result.text,
        [value for value in PERSONAL if value in result.text],
    ) == (zxingcpp.BarcodeFormat.QRCode, order.code, [])


@pytest.mark.parametrize("text", ["A", "BM-7K3Q9", "BM-7K3Q9X2Z4W8P"])
def test_short_codes_never_become_a_micro_qr(text: str) -> None:
    (result,) = _decoded(qr_data_uri(text))
    assert (result.format, result.text) == (zxingcpp.BarcodeFormat.QRCode, text)
