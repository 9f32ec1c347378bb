"""Where the audit chain's anchors are kept outside the database: the anchor-sink registry
(issue 20, point 5; docs/decisions/0017-chain-anchoring.md).

A sink keeps, per tenant, an append-only file of JSON lines, one anchor per line, and can
give back every anchor of one tenant. ``audits`` registers its own local sink (a folder from
``settings.BAOMI_ANCHOR_DIR``) so that anchoring works without any later app; ``privacy``
registers the backup location's and the erasure ledger's sinks from its ``ready()``
(``audits`` never imports privacy)::

    from audits.anchor_sinks import JsonLinesSink, register_anchor_sink

    register_anchor_sink(JsonLinesSink("backups", _("Backup location"), folder=lambda: ...))

The API: ``register_anchor_sink(sink)``, ``unregister_anchor_sink(name)``,
``anchor_sinks()``; a sink has ``name``, ``label``, ``write(tenant_id, record)`` and
``read(tenant_id)``. ``read`` raises ``AnchorFileMissing`` when the tenant has no file in
that sink, ``AnchorSinkError`` (with the reason) when the sink cannot be read or written.
What a line holds is ``audits.anchoring``'s business: ids, sequence numbers, hashes, times
and a MAC, never personal data.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class AnchorSinkError(Exception):
    """A sink could not be written or read; the message says why (no personal data)."""


class AnchorFileMissing(AnchorSinkError):
    """The sink holds no anchor file for this tenant."""


class AnchorSink(Protocol):
    name: str
    label: str | Promise

    def write(self, tenant_id: int, record: Mapping[str, Any]) -> None: ...

    def read(self, tenant_id: int) -> list[dict[str, Any]]: ...


def _encode(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(dict(record), sort_keys=True, separators=(",", ":")) + "\n").encode()


class JsonLinesSink:
    """A folder of ``tenant-<id>.jsonl`` files, appended to (``O_APPEND``, flushed and
    fsynced; mode 0600 in a 0700 folder) under an ``fcntl`` lock per file, so two writers
    never interleave a line. ``folder`` is called at each use (settings may change).
    ``lock`` optionally wraps every write in a caller's own lock (the erasure ledger's)."""

    def __init__(
        self,
        name: str,
        label: str | Promise,
        *,
        folder: Callable[[], Path | None],
        lock: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.name, self.label, self._folder, self._lock = name, label, folder, lock

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _path(self, tenant_id: int, *, create: bool) -> Path:
        folder = self._folder()
        if folder is None:
            raise AnchorSinkError(f"the anchor sink {self.name} has no folder configured")
        if create and not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder / f"tenant-{int(tenant_id)}.jsonl"

    def write(self, tenant_id: int, record: Mapping[str, Any]) -> None:
        data = _encode(record)
        try:
            path = self._path(tenant_id, create=True)
            with self._lock() if self._lock is not None else nullcontext():
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    with _locked(fd):
                        if os.write(fd, data) != len(data):
                            raise OSError("short write")
                        os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as error:
            raise AnchorSinkError(
                f"the anchor sink {self.name} could not be written "
                f"({error.strerror or type(error).__name__})"
            ) from None

    def read(self, tenant_id: int) -> list[dict[str, Any]]:
        path = self._path(tenant_id, create=False)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise AnchorFileMissing(
                f"the anchor sink {self.name} holds no anchor file of this tenant"
            ) from None
        except OSError as error:
            raise AnchorSinkError(
                f"the anchor sink {self.name} could not be read "
                f"({error.strerror or type(error).__name__})"
            ) from None
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise AnchorSinkError(
                    f"the anchor sink {self.name}: line {number} of the tenant's file is unreadable"
                )
            records.append(record)
        return records


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _local_folder() -> Path | None:
    folder = getattr(settings, "BAOMI_ANCHOR_DIR", None)
    return Path(folder) if folder else None


#: audits' own sink: a local folder (``BAOMI_ANCHOR_DIR``; off in production unless set).
LOCAL_SINK = JsonLinesSink("local", _("Anchor folder"), folder=_local_folder)

_sinks: dict[str, AnchorSink] = {}


def register_anchor_sink(sink: AnchorSink) -> AnchorSink:
    """Register ``sink`` under its name (again, the same object: a no-op). Another sink under
    a known name is a programming error (``ValueError``)."""
    if not sink.name or not sink.name.replace("_", "").isalnum():
        raise ValueError(f"Anchor sink name {sink.name!r} must be a plain word.")
    known = _sinks.get(sink.name)
    if known is not None and known is not sink:
        raise ValueError(f"Anchor sink {sink.name!r} is already registered.")
    _sinks[sink.name] = sink
    return sink


def unregister_anchor_sink(name: str) -> None:
    """Forget a sink (tests)."""
    _sinks.pop(name, None)


def anchor_sinks() -> list[AnchorSink]:
    """The sinks in use, by name; the local one only while its folder is configured."""
    return [
        sink
        for name, sink in sorted(_sinks.items())
        if not (sink is LOCAL_SINK and _local_folder() is None)
    ]


def sink_labels(names: list[str]) -> list[str]:
    """The sinks' labels for people (a name no longer registered is shown as it is)."""
    labels = {name: str(sink.label) for name, sink in _sinks.items()}
    return [labels.get(name, name) for name in names]
