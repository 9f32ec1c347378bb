from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only when BAOMI_BENCH=1: the plaintext baseline the benchmarks compare to."""

    name = "bench"
    label = "bench"

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # bench/audit_actions.py
