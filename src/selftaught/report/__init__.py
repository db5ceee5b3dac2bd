"""`selftaught report`: a run directory's report, and the study report of `selftaught reproduce` beside the paper."""

from selftaught.report._build import build_report, report_json
from selftaught.report._coverage import Comparison, Estimate, compare
from selftaught.report._html import render_html
from selftaught.report._load import RunFiles, load_run
from selftaught.report._md import render_md
from selftaught.report._paper import PaperNumber, PaperNumbers, load_paper
from selftaught.report._study import StudyReportPaths, write_study_report

__all__ = ["Comparison", "Estimate", "PaperNumber", "PaperNumbers", "RunFiles", "StudyReportPaths", "build_report",
           "compare", "load_paper", "load_run", "render_html", "render_md", "report_json", "write_study_report"]
