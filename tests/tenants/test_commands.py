from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Role, Tenant, User
from tenants.roles import roles_of
from tests.factories import TenantFactory, UserFactory
from tests.subprocess_manage import run_manage

ROOT = Path(__file__).resolve().parents[2]
GOOD_PASSWORD = "a-Long-pass-phrase-9"


def _run(*args: str, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    original = sys.stdin
    sys.stdin = io.StringIO(stdin)  # the operator pipes the password in
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = original
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_create_tenant_creates_the_tenant() -> None:
    out, _ = _run("create_tenant", "acme", "--name", "Acme Delivery")
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.name, out) == ("Acme Delivery", f"Created tenant 'acme' (id {tenant.pk}).\n")


@pytest.mark.django_db
def test_create_tenant_refuses_a_taken_slug() -> None:
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match="^slug: Tenant with this Slug already exists.$"):
        _run("create_tenant", "acme", "--name", "Other")


@pytest.mark.django_db
def test_create_tenant_refuses_an_invalid_slug() -> None:
    with pytest.raises(CommandError, match="^slug: Use 1-50 lowercase letters"):
        _run("create_tenant", "Not A Slug", "--name", "Other")


@pytest.mark.django_db
def test_create_tenant_refuses_an_empty_name() -> None:
    with pytest.raises(CommandError, match="^name: This field cannot be blank.$"):
        _run("create_tenant", "acme", "--name", "  ")


@pytest.mark.django_db
def test_create_staff_user_reads_the_password_from_stdin() -> None:
    TenantFactory(slug="acme")
    _run(
        "create_staff_user",
        "--tenant",
        "acme",
        "--username",
        "li",
        "--role",
        "kitchen",
        "--role",
        "packer",
        stdin=GOOD_PASSWORD + "\n",
    )
    user = User.objects.get(username="li")
    assert (user.check_password(GOOD_PASSWORD), roles_of(user), user.tenant.slug) == (
        True,
        {"kitchen", "packer"},
        "acme",
    )


@pytest.mark.django_db
def test_create_staff_user_for_a_rider_is_not_back_office_staff() -> None:
    TenantFactory(slug="acme")
    _run(
        "create_staff_user",
        "--tenant",
        "acme",
        "--username",
        "wang",
        "--role",
        "rider",
        stdin=GOOD_PASSWORD,
    )
    assert User.objects.get(username="wang").is_staff is False


@pytest.mark.django_db
def test_create_staff_user_refuses_an_unknown_tenant() -> None:
    with pytest.raises(CommandError, match="^No tenant with slug 'nope'.$"):
        _run(
            "create_staff_user",
            "--tenant",
            "nope",
            "--username",
            "li",
            "--role",
            "kitchen",
            stdin=GOOD_PASSWORD,
        )


@pytest.mark.django_db
def test_create_staff_user_refuses_a_weak_password() -> None:
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match="too short"):
        _run(
            "create_staff_user",
            "--tenant",
            "acme",
            "--username",
            "li",
            "--role",
            "kitchen",
            stdin="short\n",
        )


@pytest.mark.django_db
def test_create_staff_user_refuses_missing_password() -> None:
    TenantFactory(slug="acme")
    with pytest.raises(CommandError, match="^No password on standard input.$"):
        _run("create_staff_user", "--tenant", "acme", "--username", "li", "--role", "kitchen")


@pytest.mark.django_db
def test_create_staff_user_refuses_a_taken_username() -> None:
    tenant = TenantFactory(slug="acme")
    UserFactory(username="li", tenant=tenant)
    with pytest.raises(CommandError, match="^username: A user with that username already exists.$"):
        _run(
            "create_staff_user",
            "--tenant",
            "acme",
            "--username",
            "li",
            "--role",
            "kitchen",
            stdin=GOOD_PASSWORD,
        )


@pytest.mark.django_db
def test_create_staff_user_refuses_a_deactivated_tenant() -> None:
    TenantFactory(slug="acme", is_active=False)
    with pytest.raises(CommandError, match="^Tenant 'acme' is deactivated.$"):
        _run(
            "create_staff_user",
            "--tenant",
            "acme",
            "--username",
            "li",
            "--role",
            "kitchen",
            stdin=GOOD_PASSWORD,
        )


def test_create_staff_user_names_the_valid_roles_for_an_unknown_role() -> None:
    result = run_manage(
        "create_staff_user", "--tenant", "acme", "--username", "li", "--role", "cook"
    )
    assert (result.returncode, "invalid choice: 'cook'" in result.stderr) == (2, True)


@pytest.mark.parametrize("command", ["create_tenant", "create_staff_user", "seed_demo"])
def test_operator_commands_have_help(command: str) -> None:
    result = run_manage(command, "--help")
    assert (result.returncode, "usage:" in result.stdout) == (0, True)


@pytest.mark.django_db(databases="__all__")
def test_seed_demo_creates_one_user_per_role_and_is_idempotent(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    _run("seed_demo")
    _run("seed_demo")
    demo = Tenant.objects.get(slug="demo")
    users = User.objects.filter(tenant=demo)
    assert (demo.name, sorted(r for u in users for r in roles_of(u))) == (
        "Demo Delivery Co.",
        sorted(Role.values),
    )


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings) -> None:
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never runs in production"):
        _run("seed_demo")


def test_demo_passwords_always_pass_the_validators(monkeypatch) -> None:
    import secrets

    from tenants.management.commands import seed_demo

    # The first draw shares most letters with the username: it must be drawn again.
    draws = iter(["demo-privacy-officer1", "k7Qz-Xw2_Lm9Pa4R"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(draws))
    assert seed_demo._new_password("demo-privacy-officer") == "k7Qz-Xw2_Lm9Pa4R"
