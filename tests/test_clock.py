"""spotnana_sim.core.clock: an offset over a base clock, moved by advance/set/reset instead of sleeping."""

from __future__ import annotations

import math
import threading
import time

import pytest

from spotnana_sim.core.clock import Clock

from .helpers import ManualTime


def test_now_is_base_plus_offset() -> None:
    base = ManualTime(1_000.0)
    clock = Clock(base, offset=25.0)
    assert clock.now() == 1_025.0
    assert clock.offset == 25.0
    base.now = 2_000.0
    assert clock.now() == 2_025.0


def test_default_offset_is_zero_and_follows_base() -> None:
    base = ManualTime(42.0)
    clock = Clock(base)
    assert clock.offset == 0.0
    assert clock.now() == 42.0


def test_default_base_is_wall_clock() -> None:
    before = time.time()
    now = Clock().now()
    after = time.time()
    assert before <= now <= after


def test_advance_accumulates_and_may_go_back() -> None:
    base = ManualTime(100.0)
    clock = Clock(base)
    clock.advance(10)
    clock.advance(2.5)
    assert clock.now() == 112.5
    assert clock.offset == 12.5
    clock.advance(-20)
    assert clock.now() == 92.5


def test_set_makes_now_equal_timestamp_and_keeps_ticking() -> None:
    base = ManualTime(500.0)
    clock = Clock(base, offset=7.0)
    clock.set(1_700_000_000.0)
    assert clock.now() == 1_700_000_000.0
    assert clock.offset == 1_700_000_000.0 - 500.0
    base.now += 3.0
    assert clock.now() == 1_700_000_003.0


def test_reset_returns_to_base_time() -> None:
    base = ManualTime(500.0)
    clock = Clock(base, offset=3.0)
    clock.advance(100)
    clock.set(9_999.0)
    clock.reset()
    assert clock.offset == 0.0
    assert clock.now() == 500.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    clock = Clock(ManualTime(10.0))
    with pytest.raises(ValueError):
        clock.advance(bad)
    with pytest.raises(ValueError):
        clock.set(bad)
    with pytest.raises(ValueError):
        Clock(ManualTime(1_000_000.0), offset=bad)
    assert clock.now() == 10.0  # the refused calls changed nothing


@pytest.mark.parametrize("bad", [True, "5", None])
def test_non_numbers_are_refused(bad: object) -> None:
    clock = Clock(ManualTime(10.0))
    with pytest.raises(TypeError):
        clock.advance(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        clock.set(bad)  # type: ignore[arg-type]
    assert clock.now() == 10.0


def test_concurrent_advances_all_count() -> None:
    clock = Clock(ManualTime(0.0))
    threads, per_thread = 8, 2_000

    def work() -> None:
        for _ in range(per_thread):
            clock.advance(1)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert clock.offset == threads * per_thread


def test_the_clock_refuses_to_leave_1970_to_9999() -> None:
    from spotnana_sim.core.clock import LATEST_TIME, ClockOutOfRange

    clock = Clock(base=lambda: 1_000.0)
    with pytest.raises(ClockOutOfRange):
        clock.set(LATEST_TIME + 1)
    with pytest.raises(ClockOutOfRange):
        clock.advance(-2_000)
    assert clock.now() == 1_000.0  # a refused move changes nothing
    clock.set(LATEST_TIME)
    assert clock.now() == LATEST_TIME
