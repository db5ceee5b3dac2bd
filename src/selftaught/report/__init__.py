"""`selftaught report`: one self-contained HTML or Markdown file describing a run directory."""

from selftaught.report._build import build_report, report_json
from selftaught.report._html import render_html
from selftaught.report._load import RunFiles, load_run
from selftaught.report._md import render_md

__all__ = ["RunFiles", "build_report", "load_run", "render_html", "render_md", "report_json"]
