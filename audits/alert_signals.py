"""The signals three alert rules read, recorded as audit events where they happen — cheaply,
since they sit on every request (docs/decisions/0012-access-alerts.md):

- ``AccessSignalsMiddleware``, after the view:
  - a *not-found probe*: a signed-in staff member of a tenant asked for an object's page
    (a URL with arguments) and got a 404. Recorded as ``alerts.not_found_probe`` with the
    URL's *name* from the resolver, never the path (a path can carry what was typed). At
    most ``2 × denied_count`` such events per person per window of ``denied_minutes``
    (a cache counter): enough for the rule, bounded for a scanner;
  - *list paging*: a page of a registered list (``register_paged_list``: the back office's
    order list and the orders API's list; not the audit log, which holds no customer's
    data) counted per person in fixed windows of
    ``paging_minutes`` (a cache counter); the page that reaches ``paging_pages`` records one
    ``alerts.bulk_paging`` event.
- ``record_token_network`` (on ``tenants.signals.integration_token_used``): the token's
  known networks (/24 IPv4, /48 IPv6) are a table, remembered in the cache for an hour; a
  network not known yet is added, and, when the token had been used from another before,
  recorded as ``alerts.token_new_network``. A request from a known network costs one cache
  read.

A failing cache never fails the request: the signal is then not counted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audits.context import client_ip
from audits.models import SupervisionSettings, TokenNetwork
from audits.services import record_event
from tenants.models import IntegrationToken, Tenant, User
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

NETWORK_CACHE_SECONDS = 3600
SETTINGS_CACHE_SECONDS = 60
_paged_lists: set[str] = set()


def register_paged_list(view_name: str) -> None:
    """Count the pages of the list whose URL is named ``view_name`` (with its namespace,
    e.g. ``admin:orders_order_changelist``) for the bulk-paging rule."""
    _paged_lists.add(view_name)


def paged_lists() -> frozenset[str]:
    return frozenset(_paged_lists)


_THRESHOLD_FIELDS = ("paging_pages", "paging_minutes", "denied_count", "denied_minutes")


def _thresholds(tenant_id: int) -> tuple[int, int, int, int]:
    """(paging_pages, paging_minutes, denied_count, denied_minutes), cached a minute; read
    in one query (the defaults while the tenant has no settings row: none is created here)."""
    key = f"alerts:thresholds:{tenant_id}"
    try:
        found = cache.get(key)
    except Exception:  # a failing cache: read the row
        found = None
    if found is not None:
        return tuple(found)
    with tenant_scope(tenant_id):
        row = (
            SupervisionSettings.objects.filter(tenant_id=tenant_id)
            .values_list(*_THRESHOLD_FIELDS)
            .first()
        )
    if row is None:
        defaults = SupervisionSettings(tenant_id=tenant_id)  # not saved: the defaults
        row = tuple(getattr(defaults, name) for name in _THRESHOLD_FIELDS)
    values = (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
    try:
        cache.set(key, values, SETTINGS_CACHE_SECONDS)
    except Exception:
        logger.warning("alerts: cache unavailable for thresholds")
    return values


def forget_thresholds(tenant_id: int) -> None:
    try:
        cache.delete(f"alerts:thresholds:{tenant_id}")
    except Exception:
        logger.warning("alerts: cache unavailable for thresholds")


def _count(key: str, seconds: int) -> int | None:
    """The counter ``key`` incremented (created for ``seconds``), or None if the cache fails."""
    try:
        cache.add(key, 0, seconds)
        return int(cache.incr(key))
    except Exception:
        logger.warning("alerts: cache unavailable for a counter")
        return None


def _window(minutes: int) -> int:
    return int(timezone.now().timestamp()) // (minutes * 60)


def count_list_page(user: User, view_name: str) -> None:
    """One page of a registered list read by ``user``: the page that reaches the tenant's
    ``paging_pages`` within a window of ``paging_minutes`` records ``alerts.bulk_paging``."""
    tenant_id = user.tenant_id
    if tenant_id is None:
        return
    pages, minutes, _denied, _denied_minutes = _thresholds(tenant_id)
    key = f"alerts:paging:{tenant_id}:{user.pk}:{minutes}:{_window(minutes)}"
    count = _count(key, minutes * 60 + 60)
    if count != pages:
        return
    with tenant_scope(tenant_id):
        record_event(
            tenant=Tenant.objects.get(pk=tenant_id),
            actor=user,
            action="alerts.bulk_paging",
            details={"list": view_name[:64], "pages": pages, "minutes": minutes},
        )


def record_probe(user: User, view_name: str) -> None:
    """A not-found answer to ``user`` on an object's page named ``view_name`` (bounded, see
    the module)."""
    tenant_id = user.tenant_id
    if tenant_id is None:
        return
    _pages, _minutes, denied, minutes = _thresholds(tenant_id)
    key = f"alerts:probes:{tenant_id}:{user.pk}:{minutes}:{_window(minutes)}"
    count = _count(key, minutes * 60 + 60)
    if count is None or count > 2 * denied:
        return
    with tenant_scope(tenant_id):
        record_event(
            tenant=Tenant.objects.get(pk=tenant_id),
            actor=user,
            action="alerts.not_found_probe",
            details={"url_name": view_name[:64]},
        )


class AccessSignalsMiddleware:
    """Counts list pages and records not-found probes of signed-in staff (see the module).
    Costs a set lookup on other requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        if match is None or not isinstance(user, User) or user.tenant_id is None:
            return response
        try:
            if response.status_code == 404 and (match.kwargs or match.args):
                record_probe(user, match.view_name)
            elif response.status_code == 200 and match.view_name in _paged_lists:
                count_list_page(user, match.view_name)
        except Exception:  # the signal is lost, never the page
            logger.exception("alerts: could not record an access signal")
        return response


# --- integration tokens' networks ----------------------------------------------------------------


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of ``ip``, as text; None if it is no address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _network_key(token: IntegrationToken, network: str) -> str:
    return f"alerts:tokennet:{token.tenant_id}:{token.pk}:{network}"


def note_token_network(token: IntegrationToken, ip: str | None) -> bool:
    """Remember that ``token`` was used from ``ip``'s network; record
    ``alerts.token_new_network`` when the network is new and the token was used from
    another before. Returns whether it was recorded."""
    network = network_of(ip)
    if network is None:
        return False
    key = _network_key(token, network)
    try:
        if cache.get(key):
            return False
    except Exception:
        logger.warning("alerts: cache unavailable for token networks")
    recorded = False
    with transaction.atomic(), tenant_scope(token.tenant_id):
        known = TokenNetwork.objects.filter(tenant_id=token.tenant_id, token=token)
        if not known.filter(network=network).exists():
            before = known.count()
            try:
                with transaction.atomic():
                    TokenNetwork(tenant_id=token.tenant_id, token=token, network=network).save(
                        force_insert=True
                    )
            except IntegrityError:
                before = 0  # another request added it at the same time: it records it
            if before:
                record_event(
                    tenant=token.tenant,
                    actor=token,
                    action="alerts.token_new_network",
                    target=token,
                    details={"network": network, "known": before},
                )
                recorded = True
    try:
        cache.set(key, 1, NETWORK_CACHE_SECONDS)
    except Exception:
        logger.warning("alerts: cache unavailable for token networks")
    return recorded


def record_token_network(sender: Any, *, token: IntegrationToken, request: Any, **_: Any) -> None:
    try:
        note_token_network(token, client_ip(request))
    except Exception:  # the signal is lost, never the request
        logger.exception("alerts: could not note a token's network")
