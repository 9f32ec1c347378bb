"""Each role lands where its work is (tenants.landing): the kitchen and the packer on their
stations, a rider told to use the rider page; others on the back office, with links to
their stations."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tenants.landing import landings_for
from tenants.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.mark.parametrize(
    ("role", "station"),
    [(Role.KITCHEN, "orders:kitchen"), (Role.PACKER, "orders:packing")],
)
def test_station_staff_land_on_their_station(client: Client, role: Role, station: str) -> None:
    client.force_login(UserFactory(roles=[role]))
    response = client.get(reverse("admin:index"))
    assert (response.status_code, response["Location"]) == (302, reverse(station))


def test_someone_with_a_station_and_back_office_work_sees_both(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.CUSTOMER_SERVICE, Role.KITCHEN]))
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en", follow=True)
    html = response.content.decode()
    # Customer service's own work page first (the order desk)...
    assert response.redirect_chain == [(reverse("admin:orders_order_desk"), 302)]
    # ...and the sidebar's "My work" links to the station too.
    assert re.search(rf'href="{reverse("orders:kitchen")}"[^>]*>.*?Kitchen station', html, re.S)


def test_back_office_roles_without_a_station_see_no_station_links(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.PRIVACY_OFFICER]))
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    # Their "My work" holds the supervisor dashboard, the training coverage they
    # supervise and their own training (training registers "My training" for every staff
    # role, listed last).
    assert (response.status_code, reverse("admin:logout") in html, "My work" in html) == (
        200,
        True,
        True,
    )
    assert [p.url_name for p in landings_for(response.wsgi_request.user)] == [
        "audits:dashboard",
        "training:coverage",
        "training:home",
    ]


def test_a_supervisor_lands_on_the_supervisor_dashboard(client: Client) -> None:
    client.force_login(UserFactory(roles=[Role.SUPERVISOR]))
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response["Location"]) == (302, reverse("audits:dashboard"))


def test_a_rider_at_the_admin_login_is_sent_to_the_rider_page(client: Client) -> None:
    rider = UserFactory(roles=[Role.RIDER], password="correct horse battery staple")
    response = client.post(
        reverse("admin:login"),
        {"username": rider.username, "password": "correct horse battery staple"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert (
        f"This account works on its own page: log in at {reverse('riders:home')}."
        in response.content.decode()
    )


def test_a_rider_with_a_wrong_password_learns_nothing_more(client: Client) -> None:
    rider = UserFactory(roles=[Role.RIDER], password="correct horse battery staple")
    response = client.post(
        reverse("admin:login"),
        {"username": rider.username, "password": "wrong"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert (response.status_code, "Please enter the correct" in html, "its own page" in html) == (
        200,
        True,
        False,
    )
