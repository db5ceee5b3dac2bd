"""`selftaught report`: one self-contained HTML or Markdown file describing a run directory."""

from selftaught.report._build import build_report, report_json
from selftaught.report._html import render_html
from selftaught.report._load import RunFiles, load_run
from selftaught.report._md import render_md
from selftaught.report._paper import PaperNumber, PaperNumbers, load_paper
from selftaught.report._study import StudyReportPaths, write_study_report

__all__ = ["PaperNumber", "PaperNumbers", "RunFiles", "StudyReportPaths", "build_report", "load_paper", "load_run",
           "render_html", "render_md", "report_json", "write_study_report"]
