"""Baomi settings: one module, every deployment-specific value from the environment.

BAOMI_ENV selects the posture:
- ``development`` (``make demo``): SQLite under var/, embedded Celery broker,
  local secret files under var/ created on first run.
- ``test``: like development, used by ``make test`` and CI (which point DATABASE_URL and
  REDIS_URL at PostgreSQL and Redis).
- ``production`` (also when BAOMI_ENV is unset: a forgotten variable fails closed): refuses
  to start without SECRET_KEY, ALLOWED_HOSTS and the master key ring; secure cookies, HSTS
  and HTTPS redirects on.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from config.env import (
    baomi_environment,
    env_bool,
    env_int,
    env_list,
    env_str,
    load_anchor_key_ring,
    load_backup_key_ring,
    load_evidence_signing_key,
    load_hmac_key,
    load_master_key_ring,
    local_file_secret,
    new_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BAOMI_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")

BAOMI_ENV = baomi_environment()
PRODUCTION = BAOMI_ENV == "production"

DEBUG = env_bool("DEBUG", default=BAOMI_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")

_secret_key = env_str("SECRET_KEY")
if _secret_key is None:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production never generates one: set SECRET_KEY in the "
            "environment (at least 50 random characters)."
            + (
                ""
                if env_str("BAOMI_ENV")
                else " BAOMI_ENV is unset, which means production; the demo and the tests "
                "set BAOMI_ENV=development or BAOMI_ENV=test (Makefile)."
            )
        )
    _secret_key = local_file_secret(VAR_DIR / "secret_key", new_secret_key)
SECRET_KEY: str = _secret_key

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the hosts this site serves.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The privacy vault's master key ring: {version: 32-byte key}, the highest version
# encrypting. Never stored in the database and never derived from SECRET_KEY.
BAOMI_MASTER_KEY_RING = load_master_key_ring(environment=BAOMI_ENV, var_dir=VAR_DIR)
BAOMI_BACKUP_KEY_RING = load_backup_key_ring(environment=BAOMI_ENV, var_dir=VAR_DIR)
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(VAR_DIR / "backups")) or VAR_DIR / "backups")
# Incident evidence files (issue 18): sealed under the backup key ring in
# EVIDENCE_DIR/<tenant id> (default var/evidence, never served statically); one upload is
# at most EVIDENCE_MAX_BYTES (default 20 MB).
EVIDENCE_DIR = Path(
    env_str("BAOMI_EVIDENCE_DIR", str(VAR_DIR / "evidence")) or VAR_DIR / "evidence"
)
EVIDENCE_MAX_BYTES = env_int("BAOMI_EVIDENCE_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
# Lesson images (training.lesson_images, issue 19): PNG, JPEG or WebP files kept in clear
# (they hold no personal data) as LESSON_IMAGE_DIR/<tenant id>/<sha256>, served only to the
# tenant's users by an authenticated view (never statically); one upload is at most
# LESSON_IMAGE_MAX_BYTES (default 2 MB).
LESSON_IMAGE_DIR = Path(
    env_str("BAOMI_LESSON_IMAGE_DIR", str(VAR_DIR / "lesson-images")) or VAR_DIR / "lesson-images"
)
LESSON_IMAGE_MAX_BYTES = env_int("BAOMI_LESSON_IMAGE_MAX_BYTES", 2 * 1024 * 1024, minimum=1)
# Pruning: the newest main backup of each of the last N days, M ISO weeks and K months.
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 7)
BACKUP_KEEP_WEEKLY = env_int("BACKUP_KEEP_WEEKLY", 4)
BACKUP_KEEP_MONTHLY = env_int("BACKUP_KEEP_MONTHLY", 12)
# Key-store backups hold wrapped subject keys: they are deleted once this many days old, so
# (with the replay of the erasure ledger on restore) an erased customer's key exists nowhere
# after that many days (docs/privacy.md). The old name BACKUP_KEYSTORE_KEEP_DAYS is refused
# rather than silently ignored.
if env_str("BACKUP_KEYSTORE_KEEP_DAYS") is not None:
    raise ImproperlyConfigured(
        "BACKUP_KEYSTORE_KEEP_DAYS was renamed KEYSTORE_BACKUP_RETENTION_DAYS (default 7)."
    )
KEYSTORE_BACKUP_RETENTION_DAYS = env_int("KEYSTORE_BACKUP_RETENTION_DAYS", 7, minimum=1)
# Keys the hashes of API tokens, delivery PINs and one-time codes (config/env.py).
BAOMI_HMAC_KEY = load_hmac_key(environment=BAOMI_ENV, var_dir=VAR_DIR)
# Audit chain anchoring (issue 20, audits/anchoring.py; docs/decisions/0017): the key ring
# of the anchors' MACs (BAOMI_ANCHOR_KEYS or BAOMI_ANCHOR_KEYS_FILE; var/anchor_keys outside
# production), and the folder of audits' own anchor sink (BAOMI_ANCHOR_DIR; var/anchors
# outside production; in production that sink is off unless set: privacy's sinks write to
# the backups volume, beside the erasure ledger).
BAOMI_ANCHOR_KEY_RING = load_anchor_key_ring(environment=BAOMI_ENV, var_dir=VAR_DIR)
_anchor_dir = env_str("BAOMI_ANCHOR_DIR")
BAOMI_ANCHOR_DIR: Path | None = (
    Path(_anchor_dir) if _anchor_dir else (None if PRODUCTION else VAR_DIR / "anchors")
)
# Verification reports a chain whose newest anchor is older than this (anchoring is hourly).
BAOMI_ANCHOR_STALE_HOURS = env_int("BAOMI_ANCHOR_STALE_HOURS", 3, minimum=1)
# Evidence packs (issue 20, audits.evidence_packs): the Ed25519 key that signs each pack's
# manifest (BAOMI_EVIDENCE_SIGNING_KEY or _FILE; config/env.py), and where the archives
# are kept, EVIDENCE_PACK_DIR/<tenant slug>/ (default var/evidence-packs, never served
# statically: a supervisor downloads them through the back office).
BAOMI_EVIDENCE_SIGNING_KEY = load_evidence_signing_key(environment=BAOMI_ENV, var_dir=VAR_DIR)
EVIDENCE_PACK_DIR = Path(
    env_str("BAOMI_EVIDENCE_PACK_DIR", str(VAR_DIR / "evidence-packs"))
    or VAR_DIR / "evidence-packs"
)

INSTALLED_APPS = [
    # django-unfold's templates and static files; its app config leaves our admin site in
    # place (docs/decisions/0010).
    "unfold.apps.BasicAppConfig",
    "tenants.admin_apps.BaomiAdminConfig",  # django.contrib.admin, second factor required
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally (config/api_docs.py)
    # Baomi, in dependency order (see docs/architecture.md).
    "tenants",
    "audits",
    "training",
    "privacy",
    "orders",
    "incidents",
    "riders",
]

# Benchmarks only (make bench): the plaintext baseline app.
BAOMI_BENCH = env_bool("BAOMI_BENCH", False)
if BAOMI_BENCH:
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tenants.headers.NoncedCSPMiddleware",
    "tenants.headers.NoStoreMiddleware",
    "core.http.RejectNulBytesMiddleware",
    "audits.context.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tenants.two_factor.TwoFactorGateMiddleware",
    "axes.middleware.AxesMiddleware",
    "tenants.middleware.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # alerts (issue 20): not-found probes and list paging of signed-in staff.
    "audits.alert_signals.AccessSignalsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Database -----------------------------------------------------------------------
_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", default=True)
# Connection pooling on PostgreSQL (docs/decisions/0020): DATABASE_POOL=1 gives each
# process a psycopg pool per database (Django's OPTIONS["pool"], connections handed back at
# the end of each request, CONN_MAX_AGE 0), of DATABASE_POOL_MIN_SIZE to
# DATABASE_POOL_MAX_SIZE connections; a request waits at most DATABASE_POOL_TIMEOUT seconds
# for one. Size it to the process's threads (gunicorn --threads; 1 for sync workers). Off:
# persistent connections (DATABASE_CONN_MAX_AGE, default 60 s). Prepared statements survive
# in the pool's connections as in persistent ones (behind a transaction-pooling PgBouncer
# older than 1.21: DATABASE_PREPARED_STATEMENTS=0). A misconfigured pool refuses to start.
DATABASE_POOL = env_bool("DATABASE_POOL", default=False)
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 4, minimum=1)
DATABASE_POOL_TIMEOUT = env_int("DATABASE_POOL_TIMEOUT", 5, minimum=1)
if DATABASE_POOL:
    if env_int("DATABASE_CONN_MAX_AGE", 0) != 0:
        raise ImproperlyConfigured(
            "DATABASE_POOL=1 hands connections back to the pool after each request: "
            "unset DATABASE_CONN_MAX_AGE (or set it to 0)."
        )
    if DATABASE_POOL_MIN_SIZE > DATABASE_POOL_MAX_SIZE:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MIN_SIZE must not be larger than DATABASE_POOL_MAX_SIZE."
        )
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise ImproperlyConfigured(
            "DATABASE_POOL=1 needs the psycopg-pool package (psycopg[pool])."
        ) from None


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        dj_database_url.parse(
            url,
            conn_max_age=0
            if DATABASE_POOL
            else env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 60),
            conn_health_checks=True,
        )
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        # The demo's web server, Celery worker and beat write at once: WAL, IMMEDIATE
        # transactions and a busy timeout keep "database is locked" away (docs/conventions.md §6).
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["CONN_MAX_AGE"] = 0
        config.pop("CONN_HEALTH_CHECKS", None)
    if config["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that costs no round trip per request.
        config["ENGINE"] = "config.postgresql"
    if config["ENGINE"] == "config.postgresql" and _PREPARED_STATEMENTS:
        # The hot paths' fixed statements (tenants.bulk.hot_cursor) are prepared on a
        # connection after two runs; the ORM's client-binding cursors never are.
        # DATABASE_PREPARED_STATEMENTS=0 behind a transaction-pooling PgBouncer older
        # than 1.21 (docs/decisions/0005).
        config.setdefault("OPTIONS", {})["prepare_threshold"] = 2
    if config["ENGINE"] == "config.postgresql" and DATABASE_POOL:
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": DATABASE_POOL_MIN_SIZE,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
        }  # checked when handed out, with no round trip (config/postgresql/base.py)
    return config


DATABASES = {
    "default": _database(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'baomi.sqlite3'}") or ""),
    # The key store: subject data keys, never in the main database or its backups, so
    # that destroying a key erases the subject everywhere (docs/privacy.md).
    "keystore": _database(
        env_str("KEYSTORE_DATABASE_URL", f"sqlite:///{VAR_DIR / 'keystore.sqlite3'}") or ""
    ),
}
if PRODUCTION:
    for _name, _why in (
        ("DATABASE_URL", "production runs on PostgreSQL, not the demo's SQLite file"),
        ("KEYSTORE_DATABASE_URL", "production keeps subject keys in their own database"),
        ("REDIS_URL", "production's Celery broker and cache are Redis"),
    ):
        if env_str(_name) is None:
            raise ImproperlyConfigured(f"{_name} is not set: {_why}.")
if DATABASES["keystore"]["NAME"] == DATABASES["default"]["NAME"] and (
    DATABASES["keystore"].get("HOST") == DATABASES["default"].get("HOST")
):
    raise ImproperlyConfigured(
        "KEYSTORE_DATABASE_URL must name another database than DATABASE_URL."
    )
DATABASE_ROUTERS = ["privacy.routers.KeystoreRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",  # keeps its Redis clients (core/cache.py)
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "baomi",
            # An unreachable Redis fails fast (a 503), never hangs a request.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # Above the longest task's runtime and every retry delay (docs/conventions.md §7).
        "visibility_timeout": 3600,
    }
else:
    # Kombu's filesystem transport runs a real worker and beat without Redis (the demo).
    CELERY_BROKER_URL = "filesystem://"
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery keeps UTC internally; schedules read in the site's zone, like Django's.
CELERY_ENABLE_UTC = True
CELERY_TIMEZONE = env_str("TIME_ZONE", "Asia/Shanghai")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Exactly one beat sends: the one holding the leader lock (Redis key, or a file lock under
# VAR_DIR without Redis), renewed every sixth of its lifetime; a standby takes over when
# it expires. Every job is sent with its period and runs once per period (config/beat.py,
# tenants/scheduling.py).
CELERY_BEAT_SCHEDULER = "config.beat:LeaderScheduler"
BAOMI_BEAT_LOCK_SECONDS = env_int("BAOMI_BEAT_LOCK_SECONDS", 30, minimum=3)
# An audited alert in every tenant's log when no verified nightly backup finished within
# this many hours (checked hourly, at most one alert a day).
BAOMI_BACKUP_ALERT_HOURS = env_int("BAOMI_BACKUP_ALERT_HOURS", 26, minimum=1)
# Threads that erase the retention sweep's batches (privacy.retention.sweep_tenant); each
# holds a connection to the main database and one to the key store while the sweep runs.
RETENTION_SWEEP_WORKERS = env_int("BAOMI_RETENTION_SWEEP_WORKERS", 2, minimum=1)
# Scheduled jobs (each task's base is tenants.tasks.ScheduledJob: once per period).
CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "tenants.tasks.clear_expired_sessions",
        "schedule": timedelta(seconds=env_int("BAOMI_HOUSEKEEPING_SECONDS", 900, minimum=5)),
    },
    "retention-sweep": {
        "task": "privacy.tasks.retention_sweep",
        "schedule": timedelta(seconds=env_int("BAOMI_RETENTION_SWEEP_SECONDS", 3600, minimum=5)),
    },
    "purge-erasure-challenges": {
        "task": "privacy.tasks.purge_erasure_challenges",
        "schedule": timedelta(hours=24),
    },
    "check-case-clocks": {
        "task": "incidents.tasks.check_case_clocks",
        "schedule": timedelta(minutes=5),
    },
    "purge-privacy-report-challenges": {
        "task": "incidents.tasks.purge_report_challenges",
        "schedule": timedelta(hours=24),
    },
    "nightly-backup": {
        "task": "privacy.tasks.nightly_backup",
        "schedule": timedelta(seconds=env_int("BAOMI_BACKUP_SECONDS", 24 * 3600, minimum=5)),
    },
    "collect-orphaned-subject-keys": {
        "task": "privacy.tasks.collect_orphaned_subject_keys",
        "schedule": timedelta(hours=6),
    },
    "reconcile-erasure-ledger": {
        "task": "privacy.tasks.reconcile_erasure_ledger",
        "schedule": timedelta(seconds=env_int("BAOMI_LEDGER_RECONCILE_SECONDS", 3600, minimum=5)),
    },
    "check-backup-freshness": {
        "task": "privacy.tasks.check_backup_freshness",
        "schedule": timedelta(hours=1),
    },
    # Training enrolments refreshed, reminders before the due date, overdue escalated to
    # the tenant's administrators (training/reminders.py): each message once, whatever
    # the number of runs.
    "send-training-reminders": {
        "task": "training.tasks.send_training_reminders",
        "schedule": timedelta(seconds=env_int("BAOMI_TRAINING_REMINDERS_SECONDS", 3600, minimum=5)),
    },
    # Inspections (issue 20, point 3; audits/inspections/jobs.py): overdue follow-ups
    # notified once to their owner and the supervisors; recurring inspections' next
    # occurrence planned, never twice.
    "run-inspection-jobs": {
        "task": "audits.inspections.tasks.run_inspection_jobs",
        "schedule": timedelta(hours=24),
    },
    # The dashboard's access statistics: each tenant's new access events counted into its
    # hourly roll-up (audits/access_rollups.py, docs/decisions/0014), each event once.
    "roll-up-access-statistics": {
        "task": "audits.access_tasks.roll_up_access_statistics",
        "schedule": timedelta(seconds=env_int("BAOMI_ACCESS_ROLLUP_SECONDS", 60, minimum=5)),
    },
    # Audit chain anchoring (issue 20, audits/anchoring.py): every tenant's chain head
    # anchored hourly outside the database; every chain verified nightly with its anchors,
    # the result recorded (audits.ChainVerification) and a broken chain notified.
    "anchor-audit-chains": {
        "task": "audits.tasks.anchor_audit_chains",
        "schedule": timedelta(seconds=env_int("BAOMI_ANCHOR_SECONDS", 3600, minimum=5)),
    },
    "verify-audit-chains": {
        "task": "audits.tasks.verify_audit_chains",
        "schedule": timedelta(seconds=env_int("BAOMI_CHAIN_VERIFY_SECONDS", 24 * 3600, minimum=5)),
    },
    # alerts (issue 20): the anomalous-access rules over each tenant's new audit events
    # (audits/alert_evaluation.py), one task per tenant; overlapping runs take turns.
    "evaluate-alerts": {
        "task": "audits.alert_tasks.evaluate_alerts",
        "schedule": timedelta(seconds=env_int("BAOMI_ALERTS_SECONDS", 120, minimum=5)),
    },
}

# --- Authentication ------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "tenants.login_security.LoginAttemptBackend",
    "tenants.backends.RoleBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is a row without a tenant that nobody needs.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# unfold's login form posts no "next" when the login page was opened without one: land on
# the back office (which sends each role on to its work page), not on Django's /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"

# --- Login protection (django-axes) and two-factor login (django-otp) ----------------------
# A username, or an address, is locked out after AXES_FAILURE_LIMIT failed logins within
# the cool-off; the lock lifts by itself after the cool-off or when a tenant admin unlocks
# the user (tenants.login_security). Attempts live in the database, so they survive restarts
# and one count holds across web workers.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# The client's address as the audit log reads it: X-Real-IP only behind the TLS proxy.
AXES_CLIENT_IP_CALLABLE = "audits.context.client_ip"
AXES_LOCKOUT_CALLABLE = "tenants.login_security.lockout_response"
# A successful login forgets that username's failures only (tenants.receivers), never the
# address's: axes' reset on success would also wipe the address's count of other usernames.
AXES_RESET_ON_SUCCESS = False
# Axes' own admin lists every tenant's attempts; tenant admins unlock through the user admin.
AXES_ENABLE_ADMIN = False
# Successful logins are already recorded (LoginSession, the audit log); no second log of IPs.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "code"]
# Axes' log lines name the login page only: usernames and addresses stay out of the logs.
AXES_CLIENT_STR_CALLABLE = "tenants.login_security.client_description"
AXES_VERBOSE = False
# Two-factor login: who needs it and the gate are in tenants.two_factor; the app shows this
# name next to the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Baomi")

# --- Sessions, cookies, transport security -------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"  # sessions can be listed and ended
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "__Host-baomi_session" if PRODUCTION else "baomi_session"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_NAME = "__Host-baomi_csrf" if PRODUCTION else "baomi_csrf"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", PRODUCTION)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Content-Security-Policy (django-csp; tenants/headers.py) --------------------------------
# Every asset is served from this origin; scripts and styles come from static files, and
# the few inline ones (Swagger UI's initialisation) carry the request's nonce. No
# 'unsafe-inline' anywhere: the Django admin needs none (its scripts and styles are files; it
# sets styles only through the CSSOM, which CSP does not restrict). data: images are the
# labels' QR codes and Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Outside services behind interfaces (console backends in development) ----------------
# Back-office notifications (tenants.notifications): the origin put before their links in
# e-mails and webhooks (e.g. https://baomi.example.com; empty: the path only), and the
# external delivery's retries (seconds before the first, doubled each time; how many).
BAOMI_BACK_OFFICE_URL = env_str("BAOMI_BACK_OFFICE_URL", "") or ""
BAOMI_NOTIFICATION_RETRY_SECONDS = env_int("BAOMI_NOTIFICATION_RETRY_SECONDS", 30, minimum=0)
BAOMI_NOTIFICATION_RETRIES = env_int("BAOMI_NOTIFICATION_RETRIES", 6, minimum=0)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "baomi@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", PRODUCTION)
if PRODUCTION:
    # Notifications leave by e-mail and webhook with a link into the back office: no
    # development default may reach production (an unset origin sends bare paths).
    if not BAOMI_BACK_OFFICE_URL.startswith("https://") or BAOMI_BACK_OFFICE_URL.rstrip("/") in (
        "https://",
        "https://localhost",
        "https://127.0.0.1",
    ):
        raise ImproperlyConfigured(
            "BAOMI_BACK_OFFICE_URL must be the back office's https:// origin in production "
            "(e.g. https://baomi.example.com): notifications link to it."
        )
    if env_str("DEFAULT_FROM_EMAIL") is None or str(DEFAULT_FROM_EMAIL).lower().endswith(
        ("@localhost", "@localhost.localdomain")
    ):
        raise ImproperlyConfigured(
            "DEFAULT_FROM_EMAIL must be set to the address notifications come from in "
            "production (not baomi@localhost)."
        )
    if env_str("EMAIL_HOST") is None:
        raise ImproperlyConfigured(
            "EMAIL_HOST is not set: production sends notification e-mails through the SMTP "
            "server it names (set it to localhost only for a local relay you run)."
        )
# Webhooks (tenants.notifications): the ports a production webhook URL may name, and
# whether loopback and private addresses are allowed (local testing only; production
# refuses it: a webhook must never reach inside the platform's network).
try:
    BAOMI_WEBHOOK_PORTS = [int(p) for p in env_list("BAOMI_WEBHOOK_PORTS", ["443"])]
except ValueError:
    raise ImproperlyConfigured("BAOMI_WEBHOOK_PORTS must be port numbers, e.g. 443,8443.") from None
BAOMI_WEBHOOK_ALLOW_PRIVATE = env_bool("BAOMI_WEBHOOK_ALLOW_PRIVATE", False)
if PRODUCTION and BAOMI_WEBHOOK_ALLOW_PRIVATE:
    raise ImproperlyConfigured(
        "BAOMI_WEBHOOK_ALLOW_PRIVATE is for local testing; production refuses it."
    )
# Days to answer a customer's erasure request (the statutory deadline).
BAOMI_ERASURE_DEADLINE_DAYS = env_int("BAOMI_ERASURE_DEADLINE_DAYS", 15, minimum=1)
# Days for staff to answer a customer's privacy report (incidents.PrivacyReport, §6.2).
BAOMI_PRIVACY_REPORT_DAYS = env_int("BAOMI_PRIVACY_REPORT_DAYS", 15, minimum=1)
BAOMI_SMS_BACKEND = env_str("BAOMI_SMS_BACKEND", "privacy.sms.ConsoleSmsBackend")
BAOMI_CALL_RELAY_BACKEND = env_str("BAOMI_CALL_RELAY_BACKEND", "riders.relay.ConsoleRelayBackend")
from config.gateways import outside_service  # noqa: E402 (this section's own helper)

# The HTTP backends' gateways (config/gateways.py, docs/gateways.md), None for other backends.
# Production refuses the console backends, and a gateway without https:// or a credential.
BAOMI_SMS_GATEWAY = outside_service(
    "BAOMI_SMS_BACKEND", str(BAOMI_SMS_BACKEND), environment=BAOMI_ENV
)
BAOMI_CALL_RELAY_GATEWAY = outside_service(
    "BAOMI_CALL_RELAY_BACKEND", str(BAOMI_CALL_RELAY_BACKEND), environment=BAOMI_ENV
)

# --- Languages -----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True
LANGUAGE_COOKIE_SECURE = PRODUCTION
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")) or VAR_DIR / "static")
# The shared layouts' CSS and JavaScript (templates/ uses them; the CSP allows no inline ones).
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- The back office (django-unfold; docs/decisions/0010) ----------------------------
UNFOLD = {
    "SITE_TITLE": _("Baomi back office"),
    "SITE_HEADER": _("Baomi back office"),
    "SITE_SUBHEADER": "tenants.navigation.site_subheader",
    "SITE_SYMBOL": "shield_lock",
    "SITE_URL": "/admin/",
    "SITE_FAVICONS": [
        {
            "rel": "icon",
            "type": "image/svg+xml",
            "href": lambda request: static("baomi/favicon.svg"),
        }
    ],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "THEME": None,  # light and dark, the user's choice
    # Our additions: the Alpine components that replace unfold's inline expressions (the
    # CSP allows no 'unsafe-eval'), loaded before Alpine starts, and the panels' styles.
    "SCRIPTS": [lambda request: static("baomi/unfold-csp.js")],
    "STYLES": [lambda request: static("baomi/admin.css")],
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "tenants.navigation.sidebar",
    },
}

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.IntegrationTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    # Per token and per tenant, per user, per address: atomic counters in Redis (in-process
    # without Redis); Redis down is a 503 with Retry-After (tenants/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "tenants.throttling.IntegrationTokenThrottle",
        "tenants.throttling.UserThrottle",
        "tenants.throttling.AnonymousThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("BAOMI_API_TOKEN_RATE", "600/min"),
        "tenant": env_str("BAOMI_API_TENANT_RATE", "1800/min"),
        "user": env_str("BAOMI_API_USER_RATE", "1200/min"),
        "anon": env_str("BAOMI_API_ANON_RATE", "60/min"),
    },
    # Trusted proxies in front of gunicorn that append to X-Forwarded-For (the TLS proxy).
    "NUM_PROXIES": env_int("NUM_PROXIES", 1 if BEHIND_TLS_PROXY else 0),
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# An integration token checked against the database is remembered in the process this many
# seconds (0: never), with Redis only; a revocation still takes effect on the very next
# request everywhere (tenants/token_cache.py, docs/decisions/0020).
BAOMI_TOKEN_CACHE_SECONDS = env_int("BAOMI_TOKEN_CACHE_SECONDS", 30, minimum=0)
if BAOMI_TOKEN_CACHE_SECONDS > 300:
    raise ImproperlyConfigured("BAOMI_TOKEN_CACHE_SECONDS is at most 300 (five minutes).")
# Everything under /api/ answers JSON, also errors raised outside DRF's views (a database
# or Redis outage in middleware is a 503, an oversized body a 413): config/api_errors.py.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "config.api_errors.ApiJsonErrorsMiddleware",
)
SPECTACULAR_SETTINGS = {
    "TITLE": "Baomi API",
    "DESCRIPTION": "Confidential food-delivery operations: the partner and staff API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's static files, never a CDN (the CSP allows no
    # other origin), and without the online validator's badge (a request to swagger.io).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "orders.models.Status"},
    "PREPROCESSING_HOOKS": ["tenants.schema.only_the_api"],
}

# --- Logging: ids only, never personal data -------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A 4xx is one line without a traceback; a 5xx keeps its traceback (config/log_filters.py).
    "filters": {"one_line_client_errors": {"()": "config.log_filters.OneLineClientErrors"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["one_line_client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's own handlers (a second console copy under DEBUG, mail to ADMINS, which is
    # unset) removed: its records reach the root handler above, once.
    "loggers": {"django": {"handlers": []}},
}
