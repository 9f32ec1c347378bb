from __future__ import annotations

from dataclasses import dataclass

from tenants.models import IntegrationToken, User


@dataclass(frozen=True)
class SystemActor:
    """The actor of work nobody clicked: scheduled jobs, operator scripts.

    Services require an actor; jobs pass ``SystemActor("retention-sweep")`` instead of None,
    so every recorded change names who or what made it.
    """

    name: str

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("A system actor is named with letters, digits, '-' and '_'.")

    def __str__(self) -> str:
        return f"system:{self.name}"


# Who did something: a person, a scheduled job, or a partner system's token.
Actor = User | SystemActor | IntegrationToken


def actor_label(actor: Actor) -> str:
    """A stable, non-personal label for logs and events: ids, never names."""
    if isinstance(actor, SystemActor):
        return str(actor)
    if isinstance(actor, IntegrationToken):
        return f"token:{actor.pk}"
    return f"user:{actor.pk}"
