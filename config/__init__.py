# The Celery app is imported here so that @shared_task and autodiscovery bind to it
# whenever Django starts (web, worker, beat, management commands).
from config.celery import app as celery_app

__all__ = ["celery_app"]
