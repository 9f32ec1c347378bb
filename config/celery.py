import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("baomi", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
if app.conf.broker_url == "filesystem://":
    # The filesystem transport has no fanout exchange: remote control and events are off.
    app.conf.worker_enable_remote_control = False
    app.conf.worker_send_task_events = False
app.autodiscover_tasks()
