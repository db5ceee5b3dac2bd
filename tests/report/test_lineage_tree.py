"""The lineage tree of a population run, rendered in Chromium: a node per step with its scores, an edge from each
step's recorded parent, the adopted path (I_0 to the final improver) bold, and no label over another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import selftaught
from report.browser import rendered
from selftaught.cli import main

TINY = {"task": "parity_noise", "lm": "mutate", "iterations": 5, "downstream_runs": 2, "max_responses": 2,
        "utility_budget": 3, "lm_budget": 1, "meta_utility_budget": 3, "seed": 5}


def test_every_node_its_score_its_parent_and_the_adopted_path(tmp_path: Path) -> None:
    result = selftaught.run(runs_dir=tmp_path / "runs", population=3, **TINY)
    summary: dict[str, Any] = result.summary
    page = tmp_path / "report.html"
    assert main(["report", str(result.run_dir), "--out", str(page)]) == 0
    tree = rendered(page)["tree"]
    records = {r["iteration"]: r for r in summary["iterations"]}
    nodes = {n["iteration"]: n for n in tree["nodes"]}
    assert sorted(nodes) == sorted(records)
    for t, node in nodes.items():
        record = records[t]
        assert node["label"] == f"I_{t}" and node["parent"] == ("" if t == 0 else str(record["parent"]))
        if record["kept_previous"]:
            assert "failed" in node["cls"] and node["score"].startswith("failed: ")
        else:
            assert node["score"] == f"val {record['meta_utility_val']:.3f} test {record['meta_utility_test']:.3f}"
    assert sorted((e["from"], e["to"]) for e in tree["edges"]) == sorted(
        (r["parent"], t) for t, r in records.items() if t > 0)
    path, step = [], summary["population"]["final"]
    while step is not None:
        path.append(step)
        step = records[step]["parent"]
    assert sorted(t for t, n in nodes.items() if "adopted" in n["cls"]) == sorted(path) and path[-1] == 0
    bold = {(e["from"], e["to"]) for e in tree["edges"] if "adopted" in e["cls"]}
    assert bold == {(records[t]["parent"], t) for t in path if t != 0}
    assert all(e["width"] > 3 for e in tree["edges"] if "adopted" in e["cls"])
    for a in tree["nodes"]:  # each child sits right of its parent and below it; no two score labels overlap
        if a["parent"]:
            parent = nodes[int(a["parent"])]
            assert a["x"] > parent["x"] and a["y"] > parent["y"]
        for b in tree["nodes"]:
            if a is not b:
                sa, sb = a["scoreBox"], b["scoreBox"]
                apart = abs(sa["x"] - sb["x"]) > (sa["w"] + sb["w"]) / 2
                assert sa["bottom"] <= sb["top"] or sb["bottom"] <= sa["top"] or apart
    assert json.loads((Path(result.run_dir) / "summary.json").read_text())["population"]["size"] == 3
