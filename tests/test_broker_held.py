"""Held records: a speculative computation's writes wait for the first ask, in order, and go where the asker's go."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

from selftaught.broker import HeldRecords, holding
from selftaught.broker._held import current, record


def test_held_writes_wait_for_the_first_ask_then_pass_through_in_order() -> None:
    written: list[str] = []
    held = HeldRecords()
    with holding(held):
        record(lambda: written.append("a"), current())
        record(lambda: written.append("b"), current())
    assert written == []
    held.release()
    held.release()  # a second ask writes nothing again
    assert written == ["a", "b"]
    held.add(lambda: written.append("c"))  # the computation goes on after the ask: written as it comes
    assert written == ["a", "b", "c"]


def test_an_unasked_computation_writes_nothing() -> None:
    written: list[str] = []
    held = HeldRecords()
    with holding(held):
        record(lambda: written.append("a"), current())
    record(lambda: written.append("outside"), current())  # after the block: written at once
    assert written == ["outside"]


def test_an_ask_made_within_another_held_computation_hands_its_records_to_that_one() -> None:
    written: list[str] = []
    inner, outer = HeldRecords(), HeldRecords()
    inner.add(lambda: written.append("inner"))
    with holding(outer):
        inner.release()
    inner.add(lambda: written.append("inner later"))
    assert written == []  # the asker's own computation was not asked for yet
    outer.release()
    assert written == ["inner", "inner later"]


def test_threads_started_with_a_copy_of_the_context_record_into_the_same_held_records() -> None:
    written: list[str] = []
    held = HeldRecords()

    def write(name: str) -> None:
        record(lambda: written.append(name), current())

    with holding(held), ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(copy_context().run, write, f"run {i}") for i in range(2)]:
            future.result()
    assert written == []
    held.release()
    assert sorted(written) == ["run 0", "run 1"]
