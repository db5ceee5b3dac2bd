"""A population of improvers: which kept improver a step improves, and which are kept once its child is added.

Linear STOP is the archive of size 1: the one kept improver is the latest adopted, each step improves it, and an
adopted child replaces it. With room for more, a step improves the `best` kept improver (its fresh val
meta-utility), or (`descendants`, as the Huxley-Gödel Machine scores a parent) the one whose clade (itself and
every improver made from it, or from those, that was measured) has the best mean fresh val meta-utility. An adopted
child always enters; when the archive is over its size, the kept improver with the lowest fresh val meta-utility
other than the child leaves it. Ties go to the most recent. Only fresh measurements (`measure` samples, val)
decide: never test, never what an improving improver saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Member(Protocol):
    """What the archive reads of an improver: its step, its parent's step, its fresh val meta-utility, and whether
    the step adopted an improver of its own (a kept step is a copy of its parent: not a member)."""

    @property
    def index(self) -> int: ...

    @property
    def parent(self) -> int | None: ...

    @property
    def meta_utility_val(self) -> float: ...

    @property
    def kept_previous(self) -> bool: ...


RULES = ("best", "descendants")


@dataclass
class Archive:
    """The improvers a run keeps (`size` at most), as the steps that adopted them."""

    size: int
    rule: str = "best"
    members: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"an archive holds at least one improver, not {self.size}")
        if self.rule not in RULES:
            raise ValueError(f"unknown parent rule {self.rule!r}")

    def parent(self, history: Sequence[Member]) -> int:
        """The step whose improver the next step improves (`history`: every step so far, by index)."""
        if not self.members:
            raise ValueError("the archive is empty")
        if self.rule == "best":
            return self.best(history)
        return max(self.members, key=lambda i: (clade_mean(i, history), i))

    def best(self, history: Sequence[Member]) -> int:
        """The kept improver with the best fresh val meta-utility (the most recent of equals)."""
        steps = {m.index: m for m in history}
        return max(self.members, key=lambda i: (steps[i].meta_utility_val, i))

    def add(self, child: int, history: Sequence[Member]) -> int | None:
        """Adds an adopted child; returns the step that left to make room, if one did."""
        self.members.append(child)
        if len(self.members) <= self.size:
            return None
        steps = {m.index: m for m in history}
        leaving = min((i for i in self.members if i != child), key=lambda i: (steps[i].meta_utility_val, i))
        self.members.remove(leaving)
        return leaving

    def record(self) -> dict[str, object]:
        return {"size": self.size, "parent": self.rule, "members": sorted(self.members)}


def clade_mean(root: int, history: Sequence[Member]) -> float:
    """The mean fresh val meta-utility of `root` and of every measured improver descended from it."""
    children: dict[int, list[int]] = {}
    for m in history:
        if m.parent is not None and not m.kept_previous:
            children.setdefault(m.parent, []).append(m.index)
    values = {m.index: m.meta_utility_val for m in history}
    clade, todo = [], [root]
    while todo:
        node = todo.pop()
        clade.append(values[node])
        todo.extend(children.get(node, []))
    return sum(clade) / len(clade)


def replay(history: Sequence[Member], size: int, rule: str = "best") -> Archive:
    """The archive a run's steps leave (`history` in step order): what the loop kept, rebuilt from its records."""
    archive = Archive(size, rule)
    for step in history:
        if step.index == 0:
            archive.members = [0]
        elif not step.kept_previous:
            archive.add(step.index, [m for m in history if m.index <= step.index])
    return archive


def final_improver(history: Sequence[Member], size: int, rule: str = "best") -> int:
    """The step whose improver a run ends with: its best kept improver by fresh val meta-utility (the latest
    adopted one in linear STOP, the archive's only member)."""
    return replay(history, size, rule).best(history)
