from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only when BAOMI_BENCH=1: the plaintext baseline the benchmarks compare to."""

    name = "bench"
    label = "bench"
