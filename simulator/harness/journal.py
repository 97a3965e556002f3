"""A bounded, redacted record of every token-endpoint request and what came of it.

Entries are :class:`~spotnana_sim.harness.journal_entry.JournalEntry` objects built by whoever answered
the request; this module only keeps them. Appending
is O(1); when full, the oldest entry drops and ``dropped`` counts it so no loss is silent. "Full" is
either bound: ``max_entries`` entries, or ``max_bytes`` of entries as estimated by
:meth:`JournalEntry.size_estimate` (a request may carry up to 16 KiB of non-secret form values, so the
entry count alone does not bound memory).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from spotnana_sim.harness.journal_entry import JournalEntry

DEFAULT_MAX_ENTRIES = 1000
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


def entry_size(entry: JournalEntry) -> int:
    """About how many bytes the entry costs to keep and to serve."""
    return entry.size_estimate()


class Journal:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_entries < 1:
            raise ValueError("the journal must hold at least one entry")
        if max_bytes < 1:
            raise ValueError("the journal must hold at least one byte")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # the pytest plugin reads it from another thread
        self._entries: deque[JournalEntry] = deque()
        self._sizes: deque[int] = deque()
        self._bytes = 0
        self._ids = itertools.count(1)
        self.dropped = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def record(self, entry: JournalEntry) -> JournalEntry:
        """Keep ``entry``, giving it the next id (unless ``reserve_id`` gave it one already)."""
        size = entry_size(entry) + 16  # + the id added below
        with self._lock:
            if not entry.id:
                entry.id = next(self._ids)
            self._entries.append(entry)
            self._sizes.append(size)
            self._bytes += size
            # The newest entry always stays, even alone past max_bytes: the last request is never lost.
            while len(self._entries) > 1 and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                self._entries.popleft()
                self._bytes -= self._sizes.popleft()
                self.dropped += 1
        return entry

    def reserve_id(self) -> int:
        """The id the next entry will carry, taken now: an answer may name its entry before it is recorded."""
        with self._lock:
            return next(self._ids)

    def find(self, entry_id: int) -> JournalEntry | None:
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def entries(
        self, *, client_id: str | None = None, status: int | None = None, since: float | None = None,
        kind: str | None = None,
    ) -> list[JournalEntry]:
        """Newest last; each filter given narrows the result."""
        with self._lock:
            snapshot = list(self._entries)
        return [e for e in snapshot if _matches(e, client_id, status, since, kind)]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0
            self.dropped = 0

    reset = clear

    def summary(self, entries: Iterable[JournalEntry]) -> dict[str, Any]:
        """The journal as ``GET /_sim/journal`` serves it."""
        listed = [entry.to_json() for entry in entries]
        return {"entries": listed, "count": len(listed), "dropped": self.dropped, "capacity": self.max_entries}


def _matches(entry: JournalEntry, client_id: str | None, status: int | None, since: float | None, kind: str | None) -> bool:
    if client_id is not None and entry.client_id != client_id:
        return False
    if status is not None and entry.status != status:
        return False
    if since is not None and entry.timestamp < since:
        return False
    return not (kind is not None and entry.kind != kind)
