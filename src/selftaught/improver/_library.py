"""The library of improvers: the paper's strategies (and two of its peers'), each an improver program in a data file,
known by a name."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from importlib import resources

from selftaught.errors import UserError


@dataclass(frozen=True)
class LibraryImprover:
    """One improver of the library.

    Attributes:
      name: what `--improver NAME` and `selftaught improvers` call it.
      summary: what it does, in one line.
      source: where the strategy comes from.
      file: its program, relative to the package's `improver/data`.
    """

    name: str
    summary: str
    source: str
    file: str

    def to_dict(self) -> dict[str, str]:
        """What `selftaught improvers --json` lists for it."""
        return {"name": self.name, "summary": self.summary, "source": self.source, "file": self.file}

    def program(self) -> str:
        """The improver program's text: its file, with the code the strategies share where the file's marker lines
        stand (each program is whole: the LM that improves an improver reads all of it)."""
        return SHARED_LINE.sub(lambda line: _shared(line.group(1)), _data(self.file))


#: A line of a strategy's file that stands for code the strategies share (`strategies/_budget.py`: budget keeping
#: and the seed's prompt; `strategies/_crossover.py`: the genetic algorithms' crossover prompt).
SHARED_LINE = re.compile(r"^# --- inserted here: (strategies/_\w+\.py) \(code the library's strategies share\) ---$",
                         re.MULTILINE)


def _data(file: str) -> str:
    return resources.files("selftaught.improver").joinpath("data", file).read_text(encoding="utf-8")


def _shared(file: str) -> str:
    """A shared file's code, without its docstring (which describes the file, not the program it goes into)."""
    text = _data(file)
    first = ast.parse(text).body[0]
    is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return "\n".join(text.splitlines()[first.end_lineno if is_docstring else 0:]).strip("\n")


_PAPER = "STOP (arXiv 2310.02304), strategies GPT-4 proposed"
LIBRARY: tuple[LibraryImprover, ...] = (
    LibraryImprover("seed", "the paper's I_0: one batch of samples of one prompt, each scored, the best returned",
                    "STOP (arXiv 2310.02304), the seed improver", "seed_improver.py"),
    LibraryImprover("beam_search", "keeps the 3 best solutions, asks for improvements of each, keeps the best 3",
                    _PAPER, "strategies/beam_search.py"),
    LibraryImprover("genetic", "a population bred by LM mutation and crossover, parents chosen by their utility",
                    _PAPER, "strategies/genetic.py"),
    LibraryImprover("genetic_implicit", "a genetic algorithm whose selection is the LM's pairwise judgement; the "
                    "utility only picks the answer", _PAPER, "strategies/genetic_implicit.py"),
    LibraryImprover("annealing", "simulated annealing: LM-proposed neighbours accepted by a cooling Metropolis rule",
                    _PAPER, "strategies/annealing.py"),
    LibraryImprover("decompose", "improves the solution one top-level function at a time and splices each back in",
                    _PAPER, "strategies/decompose.py"),
    LibraryImprover("bandit", "Thompson sampling over five prompt styles, rewarded when a child beats the best",
                    _PAPER, "strategies/bandit.py"),
    LibraryImprover("temperature", "improves the best so far at a temperature falling from 1.0 to 0.3 over the calls",
                    _PAPER, "strategies/temperature.py"),
    LibraryImprover("ucb", "UCB1 over the scored solutions picks which one to improve next", _PAPER,
                    "strategies/ucb.py"),
    LibraryImprover("islands", "islands evolved apart from best-shot prompts; the worst reseeded from the best",
                    "FunSearch (Romera-Paredes et al., Nature 2024)", "strategies/islands.py"),
    LibraryImprover("map_elites", "a MAP-Elites grid over code length and control flow; parents drawn from its "
                    "cells", "OpenEvolve (MAP-Elites, Mouret and Clune 2015)", "strategies/map_elites.py"),
)
_BY_NAME = {improver.name: improver for improver in LIBRARY}


def improver_names() -> tuple[str, ...]:
    """The library's names, in the order `selftaught improvers` lists them."""
    return tuple(_BY_NAME)


def library_improver(name: str) -> LibraryImprover:
    """The library improver called `name`; an unknown name is refused in one line that lists the names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"no library improver {name!r} (the library: {', '.join(_BY_NAME)})") from None


def improver_program(name: str) -> str:
    """The program of the library improver called `name`."""
    return library_improver(name).program()
