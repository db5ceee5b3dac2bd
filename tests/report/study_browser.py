"""Headless Chromium for the study report's tests: what the rendered page shows, and what its console said."""

from __future__ import annotations

import html
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from report.browser import INERT_PROBES, chromium

# The harness loads the report in an iframe (same file:// origin with --allow-file-access-from-files) and writes
# what the rendered page shows (layout boxes, visible text, data-* attributes) into its own DOM as JSON.
HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="REPORT" style="width:1300px;height:900px"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument, out = {};
  function all(sel, f) { return Array.prototype.map.call(d.querySelectorAll(sel), f); }
  function box(el) { var b = el.getBoundingClientRect();
    return {x: b.left + b.width / 2, y: b.top + b.height / 2, w: b.width, h: b.height}; }
  function text(el) { return el.innerText.trim(); }
""" + INERT_PROBES + """  out.svgs = d.querySelectorAll('svg.curve').length;
  out.marks = all('svg.curve circle.mark', function (c) {
    return Object.assign(box(c), {iteration: +c.dataset.iteration, split: c.dataset.split, value: +c.dataset.value,
                                  seeds: +c.dataset.seeds}); });
  out.paper = all('svg.curve path.paper', function (p) {
    return Object.assign(box(p), {iteration: +p.dataset.iteration, value: +p.dataset.value,
                                  verdict: p.dataset.verdict}); });
  out.bands = all('svg.curve path.band', function (p) {
    return Object.assign(box(p), {split: p.dataset.split, from: +p.dataset.from, to: +p.dataset.to}); });
  function rows(sel, key) { return all(sel, function (tr) {
    return {key: tr.getAttribute(key), cells: Array.prototype.map.call(tr.cells, text),
            verdicts: Array.prototype.map.call(tr.querySelectorAll('td.verdict'), function (td) {
              return td.dataset.verdict; }), visible: tr.getBoundingClientRect().height > 0}; }); }
  out.curve = rows('table.curve tr[data-iteration]', 'data-iteration');
  out.transfer = rows('table.transfer tr[data-task]', 'data-task');
  out.sandbox = rows('table.sandbox tr[data-prompt]', 'data-prompt');
  out.missing = all('#missing li', text);
  document.getElementById('out').textContent = JSON.stringify(out);
});
</script></body></html>
"""


def rendered_study(report: Path) -> tuple[dict[str, Any], list[str]]:
    """What the rendered study report shows (see HARNESS), and the console messages its page logged (errors,
    blocked requests: a Content-Security-Policy violation is logged there)."""
    harness = report.with_name(f"harness-{report.stem}.html")
    harness.write_text(HARNESS.replace("REPORT", report.name), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--virtual-time-budget=10000", "--allow-file-access-from-files", "--window-size=1400,1000",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", "--dump-dom",
             harness.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    payload = dom[start:dom.index("</pre>", start)]
    assert payload != "pending", "the harness never saw the report load"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    data: dict[str, Any] = json.loads(html.unescape(payload))
    return data, console
