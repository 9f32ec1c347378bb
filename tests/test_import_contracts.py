"""The import-linter contracts in pyproject.toml stay complete as modules are added."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import privacy

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _contract(contract_id: str) -> dict:
    config = tomllib.loads(PYPROJECT.read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def test_the_privacy_boundary_forbids_every_privacy_module_but_the_api() -> None:
    """A privacy module added later is listed in the boundary contract's forbidden modules,
    or later layers could import it without ``make lint`` noticing."""
    modules = {f"privacy.{m.name}" for m in pkgutil.iter_modules(privacy.__path__)}
    forbidden = set(_contract("privacy-boundary")["forbidden_modules"])
    assert "privacy.api" in modules
    assert "privacy.api" not in forbidden
    assert sorted(modules - forbidden - {"privacy.api"}) == [], "add them to pyproject.toml"
    assert sorted(forbidden - modules) == [], "remove them from pyproject.toml"
