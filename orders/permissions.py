"""Who may do what with orders, in one place (tested as a matrix in tests/orders/).

Roles act tenant-wide; riders act only on orders they hold guardian's ``deliver_order``
object permission for (granted on assignment, in the riders app). Integration tokens act
for their tenant and never reveal. Revealing fields follows privacy.permissions.
"""

from __future__ import annotations

from django.db import models

from orders.models import Order, Status
from tenants.actors import Actor, SystemActor
from tenants.models import IntegrationToken, Role, User
from tenants.roles import roles_of

INTEGRATION = "integration"  # the pseudo-role of an integration token


class Action(models.TextChoices):
    LIST = "list"
    VIEW = "view"
    CREATE = "create"
    TRANSITION = "transition"
    PRINT_LABEL = "print_label"


# The lifecycle: from each status, the statuses it may move to.
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    Status.RECEIVED: (Status.PREPARING, Status.CANCELLED),
    Status.PREPARING: (Status.PACKED, Status.CANCELLED),
    Status.PACKED: (Status.ASSIGNED, Status.CANCELLED),
    Status.ASSIGNED: (Status.PICKED_UP, Status.PACKED, Status.CANCELLED),
    Status.PICKED_UP: (Status.HELD, Status.DELIVERED, Status.FAILED),
    Status.HELD: (Status.PICKED_UP, Status.DELIVERED, Status.FAILED),
    Status.DELIVERED: (),
    Status.FAILED: (),
    Status.CANCELLED: (),
}

# Targets reached through the generic transition (admin button, API) and who may use it.
TRANSITION_ROLES: dict[str, frozenset[str]] = {
    Status.PREPARING: frozenset({Role.KITCHEN, INTEGRATION}),
    Status.PACKED: frozenset({Role.PACKER, INTEGRATION}),
    Status.CANCELLED: frozenset({Role.CUSTOMER_SERVICE, INTEGRATION}),
    Status.FAILED: frozenset({Role.CUSTOMER_SERVICE}),
}
# Targets with a flow of their own (rider assignment, pickup, storage, PIN handover).
FLOW_TARGETS: dict[str, str] = {
    Status.ASSIGNED: "assign a rider",
    Status.PICKED_UP: "the rider's pickup (order code and seal)",
    Status.HELD: "the rider's temporary storage",
    Status.DELIVERED: "the rider's handover with the customer's PIN",
}

ACTION_ROLES: dict[str, frozenset[str]] = {
    # The kitchen and packers work from their own station pages (items, never the customer),
    # so they do not list or open orders in the back office or the API.
    Action.LIST: frozenset(
        {
            Role.TENANT_ADMIN,
            Role.CUSTOMER_SERVICE,
            Role.DISPATCHER,
            Role.SUPERVISOR,
            Role.PRIVACY_OFFICER,
            INTEGRATION,
        }
    ),
    Action.CREATE: frozenset({Role.CUSTOMER_SERVICE, INTEGRATION}),
    Action.PRINT_LABEL: frozenset({Role.PACKER, Role.DISPATCHER}),
}
ACTION_ROLES[Action.VIEW] = ACTION_ROLES[Action.LIST]
ACTION_ROLES[Action.TRANSITION] = frozenset().union(*TRANSITION_ROLES.values())


def actor_roles(actor: Actor) -> frozenset[str]:
    if isinstance(actor, IntegrationToken):
        return frozenset({INTEGRATION})
    if isinstance(actor, SystemActor):
        return frozenset()
    return roles_of(actor)


def is_assigned_rider(actor: Actor, order: Order) -> bool:
    return isinstance(actor, User) and actor.has_perm("orders.deliver_order", order)


def may(actor: Actor, action: str, order: Order | None = None) -> bool:
    """Role-level permission for ``action`` (and, for riders, object permission on ``order``)."""
    if isinstance(actor, User) and not actor.is_active:
        return False
    if actor_roles(actor) & ACTION_ROLES[action]:
        return True
    return action == Action.VIEW and order is not None and is_assigned_rider(actor, order)


def may_transition_to(actor: Actor, target: str) -> bool:
    return bool(actor_roles(actor) & TRANSITION_ROLES.get(target, frozenset()))


def transition_targets(actor: Actor, order: Order) -> list[str]:
    """The statuses ``order`` may move to next that ``actor``'s roles may move it to (the
    back office's buttons)."""
    return [s for s in NEXT_STATUSES[order.status] if may_transition_to(actor, s)]
