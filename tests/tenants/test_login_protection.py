"""Login protection (issue 15.1): a username, or an address, is locked out after
AXES_FAILURE_LIMIT wrong passwords; the audit log records failures and lockouts without
the password; a tenant admin unlocks users of their own tenant only."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from audits.models import AuditEvent
from tenants.models import Role, User
from tests.factories import PASSWORD, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "wrong-password-42"
LOGIN_PAGES = ["/admin/login/", "/rider/login/"]


@pytest.fixture
def kitchen_user() -> User:
    return UserFactory(tenant=TenantFactory(slug="tenant-a"), roles=[Role.KITCHEN])


@pytest.fixture
def rider_user() -> User:
    return UserFactory(tenant=TenantFactory(slug="tenant-a"), roles=[Role.RIDER])


def _fail(client: Client, page: str, username: str, times: int = 5) -> None:
    for _ in range(times):
        client.post(page, {"username": username, "password": WRONG})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _events(user: User, action: str) -> list[AuditEvent]:
    with scopes_disabled():  # the test reads the user's tenant's log directly
        return list(
            AuditEvent.objects.filter(tenant=user.tenant, action=action, object_id=str(user.pk))
        )


def test_admin_login_refuses_the_right_password_after_five_wrong_ones(
    client: Client, kitchen_user: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username)
    response = client.post(
        "/admin/login/", {"username": kitchen_user.username, "password": PASSWORD}
    )
    assert (response.status_code, _logged_in(client)) == (429, False)


def test_rider_login_refuses_the_right_password_after_five_wrong_ones(
    client: Client, rider_user: User
) -> None:
    _fail(client, "/rider/login/", rider_user.username)
    response = client.post("/rider/login/", {"username": rider_user.username, "password": PASSWORD})
    assert (response.status_code, _logged_in(client)) == (429, False)


def test_four_wrong_passwords_still_let_the_right_one_in(
    client: Client, kitchen_user: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username, times=4)
    client.post("/admin/login/", {"username": kitchen_user.username, "password": PASSWORD})
    assert _logged_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_an_address_is_locked_out_across_usernames(
    client: Client, kitchen_user: User, page: str
) -> None:
    for n in range(5):
        client.post(page, {"username": f"guess-{n}", "password": WRONG})
    response = client.post(page, {"username": kitchen_user.username, "password": PASSWORD})
    assert (response.status_code, _logged_in(client)) == (429, False)


def test_a_successful_login_forgets_the_users_own_failures(
    client: Client, kitchen_user: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username, times=4)
    client.post("/admin/login/", {"username": kitchen_user.username, "password": PASSWORD})
    client.logout()
    _fail(client, "/admin/login/", kitchen_user.username, times=4)
    client.post("/admin/login/", {"username": kitchen_user.username, "password": PASSWORD})
    assert _logged_in(client)


def test_logging_into_ones_own_account_does_not_reset_the_addresss_count(
    client: Client, kitchen_user: User
) -> None:
    own = UserFactory(tenant=kitchen_user.tenant, roles=[Role.KITCHEN])
    for n in range(4):
        client.post("/admin/login/", {"username": f"guess-{n}", "password": WRONG})
    client.post("/admin/login/", {"username": own.username, "password": PASSWORD})
    client.logout()
    client.post("/admin/login/", {"username": "guess-4", "password": WRONG})
    response = client.post(
        "/admin/login/", {"username": kitchen_user.username, "password": PASSWORD}
    )
    assert response.status_code == 429


def test_a_spoofed_forwarded_address_does_not_escape_the_lockout(
    client: Client, kitchen_user: User
) -> None:
    for n in range(5):
        client.post(
            "/admin/login/",
            {"username": f"guess-{n}", "password": WRONG},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
            HTTP_X_REAL_IP=f"10.0.1.{n}",
        )
    response = client.post(
        "/admin/login/",
        {"username": kitchen_user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        HTTP_X_REAL_IP="10.9.9.8",
    )
    assert response.status_code == 429


def test_another_address_is_not_locked_out_by_someone_elses_guesses(
    client: Client, kitchen_user: User
) -> None:
    for n in range(5):
        client.post("/admin/login/", {"username": f"guess-{n}", "password": WRONG})
    other = Client(REMOTE_ADDR="192.0.2.7")
    other.post("/admin/login/", {"username": kitchen_user.username, "password": PASSWORD})
    assert _logged_in(other)


def test_the_lockout_page_says_how_long_to_wait_and_whom_to_ask(
    client: Client, rider_user: User
) -> None:
    _fail(client, "/rider/login/", rider_user.username)
    page = client.post(
        "/rider/login/",
        {"username": rider_user.username, "password": PASSWORD},
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert "Wait 15 minutes" in page and "ask your tenant administrator" in page


def test_the_lockout_page_is_in_chinese_by_default(client: Client, rider_user: User) -> None:
    _fail(client, "/rider/login/", rider_user.username)
    page = client.post(
        "/rider/login/", {"username": rider_user.username, "password": PASSWORD}
    ).content.decode()
    assert "登录已锁定" in page


def test_each_failed_login_is_audited_in_the_users_tenant(
    client: Client, kitchen_user: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username, times=3)
    assert len(_events(kitchen_user, "auth.login_failed")) == 3


def test_the_lockout_is_audited_once(client: Client, kitchen_user: User) -> None:
    _fail(client, "/admin/login/", kitchen_user.username)
    assert len(_events(kitchen_user, "auth.locked_out")) == 1


def test_login_audit_events_hold_neither_password_nor_username(
    client: Client, kitchen_user: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username, times=6)
    with scopes_disabled():  # the test reads the whole log of the tenant
        stored = json.dumps(
            list(AuditEvent.objects.filter(tenant=kitchen_user.tenant).values()), default=str
        )
    assert WRONG not in stored and kitchen_user.username not in stored


def test_an_unknown_username_writes_no_audit_event(client: Client, kitchen_user: User) -> None:
    client.post("/admin/login/", {"username": "nobody-here", "password": WRONG})
    with scopes_disabled():  # no tenant's log may hold it
        assert not AuditEvent.objects.filter(action="auth.login_failed").exists()


@pytest.fixture
def admin_a(kitchen_user: User) -> User:
    return UserFactory(tenant=kitchen_user.tenant, roles=[Role.TENANT_ADMIN])


def _unlock_url(user: User) -> str:
    return reverse("admin:tenants_user_unlock_login", args=[user.pk])


def test_tenant_admin_unlocks_a_locked_out_user(
    client: Client, kitchen_user: User, admin_a: User
) -> None:
    _fail(client, "/admin/login/", kitchen_user.username)
    admin = Client(REMOTE_ADDR="192.0.2.8")
    admin.force_login(admin_a)
    admin.post(_unlock_url(kitchen_user))
    client.post("/admin/login/", {"username": kitchen_user.username, "password": PASSWORD})
    assert _logged_in(client)


def test_unlocking_is_audited(client: Client, kitchen_user: User, admin_a: User) -> None:
    _fail(client, "/admin/login/", kitchen_user.username)
    client.force_login(admin_a)
    client.post(_unlock_url(kitchen_user))
    (event,) = _events(kitchen_user, "auth.login_unlocked")
    assert (event.actor, event.details) == (f"user:{admin_a.pk}", {"attempts_removed": 1})


def test_unlocking_redirects_back_to_the_user(
    client: Client, kitchen_user: User, admin_a: User
) -> None:
    client.force_login(admin_a)
    response = client.post(_unlock_url(kitchen_user))
    assert response["Location"] == reverse("admin:tenants_user_change", args=[kitchen_user.pk])


def test_unlocking_needs_a_post(client: Client, kitchen_user: User, admin_a: User) -> None:
    client.force_login(admin_a)
    assert client.get(_unlock_url(kitchen_user)).status_code == 405


def test_another_tenants_admin_gets_404_on_unlock(client: Client, kitchen_user: User) -> None:
    other_admin = UserFactory(tenant=TenantFactory(slug="tenant-b"), roles=[Role.TENANT_ADMIN])
    client.force_login(other_admin)
    assert client.post(_unlock_url(kitchen_user)).status_code == 404


def test_staff_without_the_admin_role_cannot_unlock(client: Client, kitchen_user: User) -> None:
    dispatcher = UserFactory(tenant=kitchen_user.tenant, roles=[Role.DISPATCHER])
    client.force_login(dispatcher)
    assert client.post(_unlock_url(kitchen_user)).status_code in (403, 404)
