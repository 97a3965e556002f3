"""The journal: bounded with a dropped count, filters, newest last, clear."""

from __future__ import annotations

import threading

import pytest

from spotnana_sim.harness.journal import DEFAULT_MAX_ENTRIES, Journal
from spotnana_sim.harness.journal_entry import JournalEntry


def entry(client_id: str = "c1", status: int = 200, timestamp: float = 100.0) -> JournalEntry:
    return JournalEntry(client_id=client_id, status=status, timestamp=timestamp)


def test_keeps_the_newest_entries_and_counts_what_dropped() -> None:
    journal = Journal(max_entries=3)
    for second in range(5):
        journal.record(entry(timestamp=float(second)))
    listed = journal.summary(journal.entries())
    assert [e["timestamp"] for e in listed["entries"]] == [2.0, 3.0, 4.0]
    assert [e["id"] for e in listed["entries"]] == [3, 4, 5]  # ids keep counting across drops
    assert (listed["count"], listed["dropped"], listed["capacity"]) == (3, 2, 3)


def test_default_capacity() -> None:
    assert Journal().max_entries == DEFAULT_MAX_ENTRIES == 1000


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Journal(0)


def test_filters_narrow_together() -> None:
    journal = Journal()
    journal.record(entry("a", 200, 10.0))
    journal.record(entry("b", 403, 20.0))
    journal.record(entry("a", 403, 30.0))
    journal.record(entry("a", 200, 40.0))
    assert [e["id"] for e in journal.entries(client_id="a")] == [1, 3, 4]
    assert [e["id"] for e in journal.entries(status=403)] == [2, 3]
    assert [e["id"] for e in journal.entries(since=30.0)] == [3, 4]
    assert [e["id"] for e in journal.entries(client_id="a", status=403, since=25.0)] == [3]
    assert journal.entries(client_id="nobody") == []


def test_clear_forgets_entries_and_the_dropped_count() -> None:
    journal = Journal(max_entries=1)
    journal.record(entry())
    journal.record(entry())
    journal.clear()
    assert (len(journal), journal.dropped, journal.entries()) == (0, 0, [])


def test_concurrent_writers_lose_nothing_silently() -> None:
    journal = Journal(max_entries=500)

    def write() -> None:
        for _ in range(250):
            journal.record(entry())

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(journal) == 500 and journal.dropped == 500
    assert len({e["id"] for e in journal.entries()}) == 500
