"""docs/python.md's example runs as written, and prints what the page says it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python.md"


def test_the_example_runs_as_written_and_prints_what_the_page_shows(tmp_path: Path) -> None:
    page = PAGE.read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    shown = re.search(r"Its output on this machine.*?```\n(.*?)```", page, flags=re.S)
    assert shown is not None
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "SELFTAUGHT_SPLIT_SECRET": "selftaught-docs"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == shown.group(1)
    assert (tmp_path / "runs").is_dir()
