from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from tenants.models import User
from tenants.roles import permissions_of_roles, roles_of


class RoleBackend(ModelBackend):
    """Username/password login plus model permissions derived from the user's roles.

    Django groups and per-user permissions are platform-wide, so tenant users get none of
    them: what they may do comes only from their roles in their own tenant. Superusers
    (platform operators) keep Django's "everything" answer through ``User.has_perm``.
    """

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if user.is_superuser and user.tenant_id is None:
            return True
        return user.tenant_id is not None and user.tenant.is_active

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is not None or not isinstance(user_obj, User) or not user_obj.is_active:
            return set()
        if user_obj.tenant is None or not user_obj.tenant.is_active:
            return set()
        return set(permissions_of_roles(roles_of(user_obj)))
