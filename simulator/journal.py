"""A bounded, redacted record of every token-endpoint request and what came of it.

Entries are plain dicts (JSON-ready) built by the exchange; this module only keeps them. Appending
is O(1); when full, the oldest entry drops and ``dropped`` counts it so no loss is silent.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any, Iterable

DEFAULT_MAX_ENTRIES = 1000


class Journal:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("the journal must hold at least one entry")
        self.max_entries = max_entries
        self._lock = threading.Lock()  # the pytest plugin reads it from another thread
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._ids = itertools.count(1)
        self.dropped = 0

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry["id"] = next(self._ids)
            if len(self._entries) == self.max_entries:
                self.dropped += 1
            self._entries.append(entry)
        return entry

    def entries(
        self, *, client_id: str | None = None, status: int | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        """Newest last; each filter given narrows the result."""
        with self._lock:
            snapshot = list(self._entries)
        return [e for e in snapshot if _matches(e, client_id, status, since)]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.dropped = 0

    reset = clear

    def summary(self, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
        listed = list(entries)
        return {"entries": listed, "count": len(listed), "dropped": self.dropped, "capacity": self.max_entries}


def _matches(entry: dict[str, Any], client_id: str | None, status: int | None, since: float | None) -> bool:
    if client_id is not None and entry.get("client_id") != client_id:
        return False
    if status is not None and entry.get("status") != status:
        return False
    if since is not None and entry.get("timestamp", 0.0) < since:
        return False
    return True
