"""Generic infrastructure that knows nothing of tenants, users or personal data: keyed
hashes, HTTP helpers, the size-counting JSON parser and the domain errors (``Conflict``).
Every app may import it; it imports no app (import-linter, pyproject.toml)."""
