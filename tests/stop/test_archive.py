"""The archive of a population run: which kept improver a step improves, who leaves when a child enters, and that
the archive a run's records replay to is the one its loop kept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from selftaught.stop.archive import Archive, clade_mean, final_improver, replay


@dataclass(frozen=True)
class Step:
    index: int
    parent: int | None
    meta_utility_val: float
    kept_previous: bool = False


def steps(*rows: tuple[int | None, float, bool]) -> list[Step]:
    return [Step(i, parent, val, kept) for i, (parent, val, kept) in enumerate(rows)]


def test_an_archive_of_one_is_the_papers_chain() -> None:
    # Each step improves the latest adopted improver, a failed step keeps it, an adopted child replaces it even when
    # it measured worse (the paper's rule adopts any improver that runs and scores above 0).
    archive = Archive(1, "best", [0])
    history = steps((None, 0.5, False))
    for t, (val, kept) in enumerate([(0.6, False), (0.6, True), (0.4, False), (0.7, False)], start=1):
        parent = archive.parent(history)
        assert parent == max(s.index for s in history if not s.kept_previous)
        history.append(Step(t, parent, val, kept))
        if not kept:
            archive.add(t, history)
        assert len(archive.members) == 1
    assert archive.members == [4] and [s.parent for s in history] == [None, 0, 1, 1, 3]


def test_best_improves_the_best_measured_and_ties_go_to_the_latest() -> None:
    history = steps((None, 0.5, False), (0, 0.7, False), (0, 0.6, False), (1, 0.7, False))
    assert Archive(4, "best", [0, 1, 2, 3]).parent(history) == 3
    assert Archive(4, "best", [0, 2]).parent(history) == 2


def test_descendants_improves_the_clade_that_measured_best_on_average() -> None:
    # I_1 measured best itself, but its children did badly; I_2's children did well: the Huxley-Gödel Machine's rule
    # improves I_2, `best` improves I_1.
    history = steps((None, 0.5, False), (0, 0.8, False), (0, 0.6, False), (1, 0.2, False), (1, 0.3, False),
                    (2, 0.7, False), (2, 0.9, True))
    assert clade_mean(1, history) == pytest.approx((0.8 + 0.2 + 0.3) / 3)
    assert clade_mean(2, history) == pytest.approx((0.6 + 0.7) / 2)  # a failed step (6) is no measurement
    assert Archive(3, "descendants", [1, 2]).parent(history) == 2
    assert Archive(3, "best", [1, 2]).parent(history) == 1


def test_a_child_always_enters_and_the_lowest_other_leaves() -> None:
    history = steps((None, 0.5, False), (0, 0.7, False), (0, 0.6, False), (1, 0.1, False))
    archive = Archive(3, "best", [0, 1, 2])
    assert archive.add(3, history) == 0 and sorted(archive.members) == [1, 2, 3]


def test_the_records_replay_to_the_archive_the_loop_kept() -> None:
    history = steps((None, 0.5, False))
    live = Archive(2, "best", [0])
    for t, val, kept in [(1, 0.6, False), (2, 0.0, True), (3, 0.55, False), (4, 0.65, False), (5, 0.4, False)]:
        history.append(Step(t, live.parent(history), val, kept))
        if not kept:
            live.add(t, history)
    assert replay(history, 2).members == live.members == [4, 5]
    assert final_improver(history, 2) == 4


@pytest.mark.parametrize(("size", "rule"), [(0, "best"), (2, "worst")])
def test_a_bad_archive_is_refused(size: int, rule: str) -> None:
    with pytest.raises(ValueError):
        Archive(size, rule)
