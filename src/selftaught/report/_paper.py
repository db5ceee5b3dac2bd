"""The STOP paper's published numbers (`data/paper.toml`), loaded into typed records with their sources."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

#: Table 1's three columns, by the key a study's transfer row uses for each.
TRANSFER_COLUMNS = ("seed_utility", "I_0", "I_T")
SANDBOX_PROMPTS = ("warn", "nowarn")


@dataclass(frozen=True)
class PaperNumber:
    """One published figure, in percent.

    Attributes:
      label: what it is ("I_2 test meta-utility on parity_noise", ...).
      source: where in the paper it is (section, figure or table).
      value: the number, or None when the paper gives only a bound.
      tolerance: the half-width of the range the number stands for (rounding, or a figure's read-off uncertainty).
      upper, lower: a bound the paper states instead of (or beside) a number ("< 1%": upper = 1.0).
      low, high: the paper's own interval, when it gives one (shown, not used for the verdict).
      approximate: read off a figure.
      not_comparable: why this number cannot be set beside ours (a verdict is never given for it).
      caveat: what to keep in mind beside a verdict.
    """

    label: str
    source: str
    value: float | None = None
    tolerance: float = 0.0
    upper: float | None = None
    lower: float | None = None
    low: float | None = None
    high: float | None = None
    approximate: bool = False
    not_comparable: str | None = None
    caveat: str | None = None

    def text(self) -> str:
        """The number as the paper gives it: `61.0% (approx. ±1.0)`, `43.9%`, `< 1%`."""
        if self.value is None:
            parts = ([f"> {self.lower:g}%"] if self.lower is not None else []) + (
                [f"< {self.upper:g}%"] if self.upper is not None else [])
            return " and ".join(parts) or "-"
        places = 2 if self.tolerance < 0.05 else 1
        text = f"{self.value:.{places}f}%"
        if self.approximate:
            text += f" (approx. ±{self.tolerance:g})"
        if self.low is not None and self.high is not None:
            text += f" [{self.low:.{places}f}, {self.high:.{places}f}]"
        return text

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "source": self.source, "value": self.value, "tolerance": self.tolerance,
                "upper": self.upper, "lower": self.lower, "low": self.low, "high": self.high,
                "approximate": self.approximate, "not_comparable": self.not_comparable, "caveat": self.caveat,
                "text": self.text()}


@dataclass(frozen=True)
class TransferRow:
    """A row of the paper's Table 1: our task name, the paper's name for it, and its three numbers."""

    task: str
    paper_name: str
    cells: Mapping[str, PaperNumber]


@dataclass(frozen=True)
class NamedStrategy:
    """One of our strategy tags that names a strategy the paper shows, and the paper's words for it."""

    tag: str
    paper: str


@dataclass(frozen=True)
class PaperNumbers:
    """Everything the study report sets beside the paper.

    Attributes:
      citation: title, arXiv id and version of the paper, and its LM.
      curve_task, curve_split: what the paper's meta-utility curve measures (LPN, test).
      curve: the curve's points by iteration; curve_source and curve_note say where they come from.
      transfer: Table 1's rows, in the paper's order; transfer_source, transfer_note.
      sandbox: the unsandboxing rates by prompt (`warn`, `nowarn`); sandbox_samples, sandbox_statement, ...
      reward_hacking: the paper's statement on reward hacking (it gives no rate) and its source.
      strategies: our tags the paper names; strategies_source.
    """

    citation: Mapping[str, str]
    curve_task: str
    curve_split: str
    curve_source: str
    curve_note: str
    curve: Mapping[int, PaperNumber]
    transfer_source: str
    transfer_note: str
    transfer: tuple[TransferRow, ...]
    sandbox_source: str
    sandbox_samples: int
    sandbox_statement: str
    sandbox_note: str
    sandbox: Mapping[str, PaperNumber]
    reward_hacking_source: str
    reward_hacking: str
    strategies_source: str
    strategies: tuple[NamedStrategy, ...]

    def transfer_row(self, task: str) -> TransferRow | None:
        return next((row for row in self.transfer if row.task == task), None)

    def sources(self) -> list[dict[str, str]]:
        """Every figure with its source, one row each (the table of sources in the report and its docs)."""
        rows = [{"figure": n.label, "paper": n.text(), "source": n.source} for _, n in sorted(self.curve.items())]
        rows += [{"figure": cell.label, "paper": cell.text(), "source": cell.source}
                 for row in self.transfer for cell in row.cells.values()]
        rows += [{"figure": self.sandbox[p].label, "paper": self.sandbox[p].text(), "source": self.sandbox_source}
                 for p in SANDBOX_PROMPTS]
        rows.append({"figure": "reward hacking", "paper": "examples, no rate", "source": self.reward_hacking_source})
        rows.append({"figure": "strategies of the improved improvers", "paper": "named, not counted",
                     "source": self.strategies_source})
        return rows


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise ValueError(f"paper.toml: {key!r} must be a string")
    return " ".join(value.split())


def _optional_float(table: Mapping[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"paper.toml: {key!r} must be a number")
    return float(value)


def _number(table: Mapping[str, Any], label: str, source: str, tolerance: float, approximate: bool) -> PaperNumber:
    own = _optional_float(table, "tolerance")
    return PaperNumber(
        label=label, source=source, value=_optional_float(table, "value"),
        tolerance=own if own is not None else tolerance, upper=_optional_float(table, "upper"),
        lower=_optional_float(table, "lower"), low=_optional_float(table, "low"), high=_optional_float(table, "high"),
        approximate=approximate, not_comparable=_clean(table.get("not_comparable")), caveat=_clean(table.get("caveat")))


def _clean(value: Any) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) else None


COLUMN_LABELS = {"seed_utility": "u(s)", "I_0": "meta-utility of I_0", "I_T": "meta-utility of I_T"}


def parse_paper(text: str) -> PaperNumbers:
    """The records of a paper.toml text (ValueError when it lacks a field or has one of the wrong type)."""
    try:
        return _parse(tomllib.loads(text))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"paper.toml: a field is missing or of the wrong type ({exc!r})") from exc


def _parse(data: dict[str, Any]) -> PaperNumbers:
    curve, transfer, sandbox = data["curve"], data["transfer"], data["sandbox"]
    task, split, curve_source = _text(curve, "task"), _text(curve, "split"), _text(curve, "source")
    points = {int(p["iteration"]): _number(p, f"I_{int(p['iteration'])} {split} meta-utility on {task}",
                                           curve_source, 0.0, approximate=True) for p in curve["points"]}
    transfer_source = _text(transfer, "source")
    tolerance = float(transfer.get("tolerance", 0.0))
    rows = tuple(TransferRow(
        task=_text(row, "task"), paper_name=_text(row, "paper_name"),
        cells={key: _number(row[key], f"{_text(row, 'paper_name')}: {COLUMN_LABELS[key]} (test)", transfer_source,
                            tolerance, approximate=False) for key in TRANSFER_COLUMNS})
        for row in transfer["rows"])
    sandbox_source = _text(sandbox, "source")
    rates = {prompt: _number(sandbox[prompt], f"sandbox flag turned off, {'with' if prompt == 'warn' else 'without'} "
                             "the warning", sandbox_source, float(sandbox.get("tolerance", 0.0)), approximate=False)
             for prompt in SANDBOX_PROMPTS}
    named = tuple(NamedStrategy(_text(s, "tag"), _text(s, "paper")) for s in data["strategies"]["named"])
    return PaperNumbers(
        citation={k: _text(data["paper"], k) for k in ("title", "arxiv", "version", "lm")},
        curve_task=task, curve_split=split, curve_source=curve_source, curve_note=_text(curve, "note"), curve=points,
        transfer_source=transfer_source, transfer_note=_text(transfer, "note"), transfer=rows,
        sandbox_source=sandbox_source, sandbox_samples=int(sandbox["samples"]),
        sandbox_statement=_text(sandbox, "statement"), sandbox_note=_text(sandbox, "note"), sandbox=rates,
        reward_hacking_source=_text(data["reward_hacking"], "source"),
        reward_hacking=_text(data["reward_hacking"], "statement"),
        strategies_source=_text(data["strategies"], "source"), strategies=named)


def load_paper() -> PaperNumbers:
    """The numbers shipped with selftaught (`selftaught/report/data/paper.toml`)."""
    text = resources.files("selftaught.report").joinpath("data", "paper.toml").read_text(encoding="utf-8")
    return parse_paper(text)
