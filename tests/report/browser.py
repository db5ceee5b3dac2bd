"""Headless Chromium for the report's tests: the rendered page, measured by a harness page around it."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

#: What every rendered report must be (no script, image, frame, handler or outside address of a candidate's) and
#: its visible text: the probes both harnesses (this one, and the study report's) start with.
INERT_PROBES = """  out.title = d.title;
  out.scripts = d.getElementsByTagName('script').length;
  out.images = d.getElementsByTagName('img').length;
  out.iframes = d.getElementsByTagName('iframe').length;
  out.injected = d.querySelectorAll('#injected, [onerror], [onload], [onclick]').length;
  out.external = Array.prototype.filter.call(d.querySelectorAll('[src], [href]'), function (el) {
    var v = el.getAttribute('src') || el.getAttribute('href'); return v.charAt(0) !== '#'; }).length;
  out.text = d.body.innerText;
"""

# The harness loads the report in an iframe (same file:// origin with --allow-file-access-from-files) and
# writes what the rendered page shows (positions from layout, visible text) into its own DOM as JSON.
HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="REPORT" style="width:1200px;height:900px"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument, out = {};
  function box(el) { var b = el.getBoundingClientRect();
    return {x: b.left + b.width / 2, y: b.top + b.height / 2, top: b.top, bottom: b.bottom, w: b.width, h: b.height}; }
""" + INERT_PROBES + """  out.marks = Array.prototype.map.call(d.querySelectorAll('svg circle.mark'), function (c) {
    return Object.assign(box(c), {iteration: +c.dataset.iteration, split: c.dataset.split,
                                  value: +c.dataset.value}); });
  out.cis = Array.prototype.map.call(d.querySelectorAll('svg line.ci'), function (c) {
    return Object.assign(box(c), {iteration: +c.dataset.iteration, split: c.dataset.split}); });
  out.figures = Array.prototype.map.call(d.querySelectorAll('table.figures tr'), function (tr) {
    return Array.prototype.map.call(tr.cells, function (td) { return td.innerText.trim(); }); });
  out.tree = {
    nodes: Array.prototype.map.call(d.querySelectorAll('svg.lineage-tree g.node'), function (g) {
      var c = g.querySelector('circle'), label = g.querySelector('text.label'), score = g.querySelector('text.score');
      return Object.assign(box(c), {iteration: +g.dataset.iteration, parent: g.dataset.parent,
                                    cls: g.getAttribute('class'), label: label.textContent,
                                    score: score.textContent, scoreBox: box(score)}); }),
    edges: Array.prototype.map.call(d.querySelectorAll('svg.lineage-tree path.edge'), function (e) {
      return Object.assign(box(e), {from: +e.dataset.from, to: +e.dataset.to, cls: e.getAttribute('class'),
                                    width: parseFloat(getComputedStyle(e).strokeWidth)}); })};
  out.gates = Array.prototype.map.call(d.querySelectorAll('table.gates tr'), function (tr) {
    return Array.prototype.map.call(tr.cells, function (td) { return td.innerText.trim(); }); });
  out.diffs = Array.prototype.map.call(d.querySelectorAll('pre.diff'), function (p) {
    return Array.prototype.map.call(p.querySelectorAll('span'), function (s) {
      return {cls: s.className, text: s.innerText.replace(/\\n$/, ''), h: s.getBoundingClientRect().height}; }); });
  out.links = Array.prototype.map.call(d.querySelectorAll('table.safety a'), function (a) {
    var id = decodeURIComponent(a.getAttribute('href').slice(1)), t = d.getElementById(id);
    return {id: id, visible: a.getBoundingClientRect().height > 0,
            target: t ? {h: t.getBoundingClientRect().height, text: t.innerText} : null}; });
  document.getElementById('out').textContent = JSON.stringify(out);
});
</script></body></html>
"""


def chromium() -> str:
    """The Chromium binary. Missing, the test fails (it never skips): scripts/install-chromium installs it."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed, and the report's tests render pages in it: run ./scripts/install-chromium"
                " (the README's test command does)")


def dump_dom(page: Path, *flags: str) -> str:
    """The DOM of `page` after Chromium loaded and rendered it (scripts, if any, have run)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", *flags, "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered(report: Path) -> dict[str, Any]:
    """What the rendered report shows (see HARNESS), measured by Chromium's layout."""
    harness = report.with_name(f"harness-{report.stem}.html")
    harness.write_text(HARNESS.replace("REPORT", report.name), encoding="utf-8")
    dom = dump_dom(harness, "--allow-file-access-from-files", "--window-size=1300,1000")
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    text = dom[start:dom.index("</pre>", start)]
    assert text != "pending", "the harness never saw the report load"
    data: dict[str, Any] = json.loads(html.unescape(text))
    return data
