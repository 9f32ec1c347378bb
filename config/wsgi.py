import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# A production web process erases (staff and online requests): it must write the same
# erasure ledger as the worker, or it does not start (docs/privacy.md).
from django.conf import settings  # noqa: E402

if settings.PRODUCTION:
    from privacy.ledger_file import require_writable_location

    require_writable_location()
