"""Subject keys live in the ``keystore`` database; everything else in ``default``."""

from __future__ import annotations

from typing import Any

KEYSTORE = "keystore"
_KEYSTORE_MODELS = {("privacy", "subjectkey")}


def _is_keystore_model(model: Any) -> bool:
    return (model._meta.app_label, model._meta.model_name) in _KEYSTORE_MODELS


class KeystoreRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return KEYSTORE if _is_keystore_model(model) else "default"

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return KEYSTORE if _is_keystore_model(model) else "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # A subject key names its tenant by id only (no cross-database join is ever made).
        if _is_keystore_model(obj1) or _is_keystore_model(obj2):
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        if model_name is None:
            # RunPython/RunSQL operations without a model: main database only.
            return db != KEYSTORE
        is_keystore = (app_label, model_name) in _KEYSTORE_MODELS
        return is_keystore == (db == KEYSTORE)
