"""index.html of a report: the study, the summary table and the plots, in one file that
opens offline (inline style, images by relative path, no scripts, nothing fetched)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sweeper.analysis import stats
from sweeper.analysis.answer import moderation_note
from sweeper.analysis.report_data import display_table
from sweeper.analysis.show import decided, importance_lines, variance_lines
from sweeper.metrics import with_direction

if TYPE_CHECKING:
    from sweeper.analysis.plots import Plot
    from sweeper.analysis.results import Results

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.worse td { color: #777; }
tr.best td { font-weight: bold; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; }
.note { font-size: 0.9em; color: #444; max-width: 60em; }
.answer { font-size: 1.1em; max-width: 60em; }
"""

NUMERIC = ("rank", "sd", "p (adjusted)", "seeds needed", "seeds ok/failed/diverged")


def render(results: Results, plots: Sequence[Plot]) -> str:
    s = results.study
    e = html.escape
    facts = [("dataset", s.get("dataset_used", "")), ("search", s.get("sampler", "")),
             ("metric", f"{results.metric}: {with_direction(results.metric, results.direction)}"), ("seeds", ", ".join(map(str, s.get("seeds", [])))),
             ("trials", f"{len(results.trials)} rows, {len(results.summary)} configurations"),
             ("budget", results.budget_line() if decided(results) else ""),
             ("fixed", ", ".join(f"{k}={v}" for k, v in s.get("fixed", {}).items()))]
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{e(results.name)}: sweep report</title>",
             f"<style>{STYLE}</style>\n</head>\n<body>", f"<h1>{e(results.name)}</h1>",
             f'<p class="answer">{e(results.answer())}</p>']
    parts += [f'<p class="answer">{e(line)}</p>' for line in importance_lines(results)]
    if s.get("description"):
        parts.append(f"<p>{e(s['description'])}</p>")
    parts.append("<p>" + " &middot; ".join(f"<b>{e(k)}</b>: {e(str(v))}" for k, v in facts if v != "") + "</p>")
    parts.append("<h2>Configurations, best first</h2>")
    parts.append(_table(display_table(results.summary, results.comparisons, results.metric)))
    parts.append(f"<p class=\"note\">{e(_explanation())} {e(moderation_note(results.comparisons))}</p>")
    parts.append('<p class="note">Tables: <a href="summary.csv">summary.csv</a> (every final metric, per '
                 'configuration) and <a href="comparisons.csv">comparisons.csv</a>.</p>')
    if not results.variance.empty:
        parts.append("<h2>Where the spread between seeds comes from</h2>")
        parts.append(f'<pre class="note">{e(chr(10).join(variance_lines(results, top=len(results.summary))))}</pre>')
        parts.append('<p class="note">Initialisation seeds crossed with data-order seeds: each configuration\'s '
                     "variance over the pairs split by a two-way ANOVA into the initial weights' part, the data "
                     "order's and the rest (their interaction, dropout); 95 % intervals (chi-square for the rest, "
                     "modified large-sample for the others). Per configuration in "
                     '<a href="variance.csv">variance.csv</a>.</p>')
    parts.append("<h2>Plots</h2>")
    for p in plots:
        parts.append(f'<figure><img src="{e(p.file)}" alt="{e(p.caption)}"><figcaption>{e(p.caption)}</figcaption></figure>')
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def _table(table: Any) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in table.columns)
    rows = []
    for _, r in table.iterrows():
        kind = {stats.WORSE: "worse", stats.BEST: "best"}.get(r["verdict"], "")
        cells = "".join(f'<td class="num">{e(str(v))}</td>' if c in NUMERIC or "[" in c else f"<td>{e(str(v))}</td>"
                        for c, v in r.items())
        rows.append(f'<tr class="{kind}">{cells}</tr>')
    return f'<table id="summary">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"


def _explanation() -> str:
    return ("Each configuration was trained once per seed; means and 95 % confidence intervals are over its "
            "successful seeds (failed and diverged seeds are counted, not averaged). The difference to the best "
            "configuration is paired by seed, on the seeds both finished, with a 95 % interval for that one "
            "comparison. The adjusted p-value accounts for the number of comparisons and for the best having been "
            "picked from the same runs; 'worse' means it is below 0.05, so with no real differences a configuration "
            "is wrongly called worse in at most about 5 % of studies. 'Not separated yet' means the difference's "
            "own interval excludes 0 but the adjusted p-value does not reach 0.05; 'indistinguishable from the best' "
            "means the interval includes 0, which is not 'equal': the seeds-needed column estimates how many seeds "
            "would likely show the observed difference (80 % power), if it is real.")
