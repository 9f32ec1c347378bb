from django.dispatch import Signal

# Sent inside the service's transaction after a change to tenants, users or roles, with
# keyword arguments ``action`` (str), ``actor`` (tenants.actors.Actor), ``tenant`` (Tenant)
# ``target`` (the changed model instance) and optionally ``details`` (ids and labels only). The audit log (a later layer) subscribes in
# its AppConfig.ready(); tenants itself depends on nothing above it.
tenant_change = Signal()

# Sent by the API's token authentication (tenants.authentication) each time an integration
# token authenticates a request, with ``token`` (IntegrationToken) and ``request``. The
# anomalous-access alerts (audits.alert_signals) note the token's network; a receiver must
# stay cheap (a cache read) and never fail the request.
integration_token_used = Signal()
