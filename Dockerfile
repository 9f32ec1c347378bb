# Baomi production image: one image for web (gunicorn), migrate, Celery worker and beat
# (see docker-compose.yml). Configuration comes from the environment at run time only.
FROM python:3.11-slim-bookworm

ENV BAOMI_ENV=production \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings

# A fixed, unprivileged uid/gid. Compose mounts a file-based secret (the master key ring)
# with the host file's owner and mode, so the host file must be readable by this uid
# (e.g. `chown 10001:10001 secrets/master_keys && chmod 400 secrets/master_keys`).
# /var/lib/baomi holds Celery beat's schedule file: docker-compose.yml mounts a named volume
# there, and a new named volume takes this directory's owner, so beat can write to it.
ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --system --gid "${APP_GID}" baomi \
    && useradd --system --uid "${APP_UID}" --gid baomi --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin baomi \
    && install -d -o baomi -g baomi -m 0750 /var/lib/baomi /var/lib/baomi/backups

# pg_dump/pg_restore for the encrypted backups (privacy/backups.py).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The lock alone first: the dependency layer is rebuilt only when the lock changes.
# requirements/prod.txt is the production subset of the lock (no test or lint tools).
COPY requirements/prod.txt requirements/prod.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/prod.txt

# The project, owned by root and read-only to the app user.
COPY . .

# collectstatic imports the settings, and production settings refuse to load without
# SECRET_KEY, ALLOWED_HOSTS, the master and backup key rings, the hashing key, the evidence
# pack signing key, the database URLs, Redis, and real SMS and call relay backends. The
# values below are BUILD-ONLY throwaways, set inline for this one RUN: they never enter the
# image's ENV, nothing signs or encrypts with them, and every container gets its real
# values at run time.
# (Nothing connects to the build.invalid URLs: REDIS_URL only stops the settings creating
# the demo's filesystem-broker folders, and the gateways are only named, never called; the
# tokens are not credentials.) The files land in STATIC_ROOT (/app/var/static). Whitenoise
# is not used: a reverse proxy in front of gunicorn serves STATIC_URL (/static/) from a copy
# of STATIC_ROOT, e.g. `docker compose cp web:/app/var/static ./static` after each deploy.
RUN BAOMI_ENV=production \
    SECRET_KEY=build-only-collectstatic-not-a-secret-never-used-at-run-time-000000 \
    ALLOWED_HOSTS=build.invalid \
    BAOMI_MASTER_KEYS=1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BAOMI_BACKUP_KEYS=1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BAOMI_HMAC_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BAOMI_ANCHOR_KEYS=1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    BAOMI_EVIDENCE_SIGNING_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DATABASE_URL=postgres://build.invalid/baomi \
    KEYSTORE_DATABASE_URL=postgres://build.invalid/baomi_keys \
    REDIS_URL=redis://build.invalid:6379/0 \
    BAOMI_SMS_BACKEND=privacy.sms.HttpSmsBackend \
    BAOMI_SMS_GATEWAY_URL=https://build.invalid/sms \
    BAOMI_SMS_GATEWAY_TOKEN=build-only-not-a-credential \
    BAOMI_CALL_RELAY_BACKEND=riders.relay.HttpRelayBackend \
    BAOMI_CALL_RELAY_GATEWAY_URL=https://build.invalid/relay \
    BAOMI_CALL_RELAY_GATEWAY_TOKEN=build-only-not-a-credential \
    BAOMI_BACK_OFFICE_URL=https://build.invalid \
    DEFAULT_FROM_EMAIL=build@build.invalid \
    EMAIL_HOST=build.invalid \
    python manage.py collectstatic --noinput

USER ${APP_UID}:${APP_GID}

EXPOSE 8000

# gunicorn on 0.0.0.0:8000, GUNICORN_WORKERS workers (default 2), access log to stdout.
# `exec` makes gunicorn PID 1 so it receives SIGTERM from `docker stop` directly.
CMD ["sh", "-c", "exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 --workers \"${GUNICORN_WORKERS:-2}\" --access-logfile - --worker-tmp-dir /dev/shm"]
