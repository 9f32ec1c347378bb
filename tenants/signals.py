from django.dispatch import Signal

# Sent inside the service's transaction after a change to tenants, users or roles, with
# keyword arguments ``action`` (str), ``actor`` (tenants.actors.Actor), ``tenant`` (Tenant)
# ``target`` (the changed model instance) and optionally ``details`` (ids and labels only). The audit log (a later layer) subscribes in
# its AppConfig.ready(); tenants itself depends on nothing above it.
tenant_change = Signal()
