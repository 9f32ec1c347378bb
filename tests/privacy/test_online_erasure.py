"""The public erasure page: order code + phone, one-time code by SMS, erasure at once, and
the same answer whether or not the details match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from privacy.models import ErasureChallenge, ErasureLedgerEntry, ErasureRequest
from privacy.sms import MemorySmsBackend, sms_backend
from privacy.tasks import match_erasure_challenge
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(databases="__all__")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture(autouse=True)
def outbox(settings: Any) -> Iterator[list[tuple[str, str]]]:
    settings.BAOMI_SMS_BACKEND = "privacy.sms.MemorySmsBackend"
    sms_backend.cache_clear()
    MemorySmsBackend.outbox.clear()
    yield MemorySmsBackend.outbox
    sms_backend.cache_clear()


def _start(client: Client, code: str, phone: str, ip: str = "203.0.113.7") -> Any:
    response = client.post(
        reverse("privacy:erasure"),
        {"order_code": code, "phone": phone},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    challenge = client.session.get("baomi_erasure_challenge")
    if challenge:
        match_erasure_challenge.apply(args=[challenge])  # what the worker does
    return response


def _code(outbox: list[tuple[str, str]]) -> str:
    return re.search(r"\b(\d{6})\b", outbox[-1][1]).group(1)


def _verify(client: Client, code: str) -> Any:
    return client.post(reverse("privacy:erasure-verify"), {"code": code}, HTTP_ACCEPT_LANGUAGE="en")


def test_a_customer_erases_their_data_with_the_code_sent_to_their_phone(
    client: Client, outbox: list
) -> None:
    order = OrderFactory()
    _start(client, order.code, "+86 139 1234 5678")
    response = _verify(client, _code(outbox))
    reference = re.search(r'id="erasure-reference">([^<]+)<', response.content.decode()).group(1)
    with tenant_scope(order.tenant):
        entry = ErasureLedgerEntry.objects.get()
        request = ErasureRequest.objects.get()
    assert (outbox[0][0], entry.reference, entry.reason, request.channel, request.status) == (
        "13912345678",
        reference,
        "customer_request",
        "web",
        "completed",
    )


def test_details_that_match_nothing_get_the_same_answer(client: Client, outbox: list) -> None:
    order = OrderFactory()
    known = _start(Client(), order.code, "13912345678")
    unknown = _start(client, order.code, "13700000000")
    stranger = _start(Client(), "ZZZZZ-ZZZZZ", "13912345678")
    assert ({(r.status_code, r.url) for r in (known, unknown, stranger)}, len(outbox)) == (
        {(302, reverse("privacy:erasure-verify"))},
        1,
    )


def test_the_verify_page_reads_the_same_either_way(outbox: list) -> None:
    order = OrderFactory()
    pages = []
    for phone in ("13912345678", "13700000000"):
        client = Client()
        _start(client, order.code, phone)
        pages.append(
            CSRF.sub(
                "",
                client.get(
                    reverse("privacy:erasure-verify"), HTTP_ACCEPT_LANGUAGE="en"
                ).content.decode(),
            )
        )
    assert pages[0] == pages[1]


def test_a_request_that_matched_nothing_never_verifies(client: Client) -> None:
    order = OrderFactory()
    _start(client, order.code, "13700000000")
    responses = [_verify(client, f"{n:06d}") for n in range(6)]
    assert [r.status_code for r in responses] == [400, 400, 400, 400, 400, 409]


def test_a_wrong_code_says_how_many_attempts_remain(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code, "13912345678")
    wrong = "000000" if _code(outbox) != "000000" else "111111"
    assert "That code is not right. 4 attempts left." in _verify(client, wrong).content.decode()


def test_five_wrong_codes_end_the_request(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code, "13912345678")
    code = _code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        _verify(client, wrong)
    response = _verify(client, code)  # even the right code, now
    assert (response.status_code, "tried too often" in response.content.decode()) == (409, True)


def test_an_expired_code_is_refused(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code, "13912345678")
    ErasureChallenge.objects.update(otp_expires_at=timezone.now() - timedelta(seconds=1))
    response = _verify(client, _code(outbox))
    assert (response.status_code, "expired" in response.content.decode()) == (409, True)


@pytest.mark.parametrize(
    ("code", "phone", "field"),
    [("nope", "13912345678", "order_code"), ("7K3Q9-XD2M4", "123", "phone")],
)
def test_malformed_details_are_400_naming_the_field(
    client: Client, code: str, phone: str, field: str
) -> None:
    response = _start(client, code, phone)
    assert (
        response.status_code,
        field in response.context["errors"],
        ErasureChallenge.objects.count(),
    ) == (400, True, 0)


def test_requests_are_rate_limited_per_phone(outbox: list) -> None:
    codes = [
        _start(Client(), "7K3Q9-XD2M4", "13912345678", ip=f"203.0.113.{n}").status_code
        for n in range(6)
    ]
    assert codes == [302] * 5 + [429]


def test_requests_are_rate_limited_per_address(outbox: list) -> None:
    codes = [_start(Client(), "7K3Q9-XD2M4", f"1391234{n:04d}").status_code for n in range(11)]
    assert codes == [302] * 10 + [429]


def test_nothing_personal_is_stored_with_the_challenge(client: Client, outbox: list) -> None:
    order = OrderFactory()
    _start(client, order.code, "13912345678")
    row = ErasureChallenge.objects.values().get()
    assert "13912345678" not in str(row)


def test_after_erasure_the_challenge_keeps_no_phone_hash_or_subject(
    client: Client, outbox: list
) -> None:
    order = OrderFactory()
    _start(client, order.code, "13912345678")
    _verify(client, _code(outbox))
    row = ErasureChallenge.objects.values("phone_hash", "otp_hash", "subject_id").get()
    assert row == {"phone_hash": "", "otp_hash": "", "subject_id": None}


def test_x_real_ip_is_ignored_unless_behind_the_proxy(settings: Any) -> None:
    from django.test import RequestFactory

    from audits.context import _client_ip

    request = RequestFactory().get("/", HTTP_X_REAL_IP="198.51.100.1", REMOTE_ADDR="203.0.113.5")
    settings.BEHIND_TLS_PROXY = False
    direct = _client_ip(request)
    settings.BEHIND_TLS_PROXY = True
    assert (direct, _client_ip(request)) == ("203.0.113.5", "198.51.100.1")


def test_the_console_sms_backend_refuses_production(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from privacy.sms import ConsoleSmsBackend

    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="for development"):
        ConsoleSmsBackend()


def test_a_ledger_that_cannot_be_written_answers_503_and_erases_nothing(
    client: Client, outbox: list, settings: Any
) -> None:
    from privacy.ledger_file import LEDGER_FILE, backup_dir, ensure_ledger
    from privacy.models import SubjectKey

    order = OrderFactory()
    _start(client, order.code, "13912345678")
    ensure_ledger()
    (backup_dir() / LEDGER_FILE).unlink()
    (backup_dir() / LEDGER_FILE).symlink_to("/dev/full")  # a full disk
    response = _verify(client, _code(outbox))
    with tenant_scope(order.tenant):
        key = SubjectKey.objects.filter(pk=order.subject_id).exists()
        status = ErasureRequest.objects.get().status
    assert (response.status_code, key, status) == (503, True, "pending")
    assert "nothing was erased. Please start again in a few minutes." in response.content.decode()
