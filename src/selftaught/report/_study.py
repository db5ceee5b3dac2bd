"""`write_study_report`: the study report of `selftaught reproduce`, in HTML and Markdown, from its record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught._atomic import write_atomic
from selftaught.errors import UserError
from selftaught.report._study_build import study_content
from selftaught.report._study_html import render_study_html
from selftaught.report._study_md import render_study_md

HTML_NAME, MD_NAME = "report.html", "report.md"


@dataclass(frozen=True)
class StudyReportPaths:
    """Where the study report was written: the HTML page and the Markdown file."""

    html: Path
    md: Path


def write_study_report(record: Mapping[str, Any], out_dir: Path) -> StudyReportPaths:
    """Writes `report.html` and `report.md` in `out_dir` from a study's record (reproduce.json, as parsed JSON).

    Every figure is set beside the paper's published number with whether its interval covers it; a part the study
    did not reach is shown as not run. Raises UserError (one line) for a record that is not a study's, is of a newer
    format or has a mistyped part, and for an `out_dir` that cannot be written.
    """
    content = study_content(record)
    html, md = render_study_html(content), render_study_md(content)
    paths = StudyReportPaths(out_dir / HTML_NAME, out_dir / MD_NAME)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(paths.html, html)
        write_atomic(paths.md, md)
    except OSError as exc:
        raise UserError(f"cannot write the study report in {out_dir}: {exc.strerror or exc}") from exc
    return paths
