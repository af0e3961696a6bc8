"""A study's results in a few lines: what `sweep show` prints, what `Results.show()` prints in
a notebook, the notebook's short `repr` and its HTML table."""

from __future__ import annotations

import html
import textwrap
from typing import Any

from sweeper.analysis import stats
from sweeper.analysis.answer import moderation_note
from sweeper.analysis.report_data import display_table

Results = Any  # sweeper.analysis.results.Results, which calls these (an import here would be a cycle)

LEGEND = ("verdict: 'worse' = below the best with adjusted p < 0.05 (paired by seed, adjusted for the number of "
          "comparisons and for picking the best); 'not separated yet' = its own 95% interval excludes 0, the "
          "adjusted p does not reach 0.05; 'indistinguishable from the best' = its interval includes 0; "
          "'seeds needed' = seeds that would likely tell, if the observed difference is real; 'why' = what decided it.")
WIDTH = 160  # characters of a `sweep show` table line (`--wide`: no limit)
SHORT = {"seeds ok/failed/diverged": "seeds ok/f/d", "difference to best [95% CI]": "to best [95% CI]"}
HTML_ROWS = 25  # rows of the notebook's table; `show(top=...)` and `summary` have them all


def answer(results: Results) -> str | None:
    """The study's answer in one sentence ("Best: ..., 6 of 8 configurations are within the
    noise of 3 seeds; 1 is worse"), first in `sweep show`, above the table in the notebook and
    on the live page (`sweeper.analysis.answer`); None before any trial is done."""
    return None if results.trials.empty else results.answer()


def text(results: Results, top: int = 10, width: int | None = None) -> str:
    """What `sweep show` prints: a header line, the best `top` configurations, the legend and
    the budget line; with `width`, the table's long cells (configuration, why) are cut to fit."""
    r = results
    planned = r.planned()
    if r.trials.empty:
        return f"{r.name}: no finished trial yet{f' (0/{planned})' if planned else ''}; see `sweep ls` for progress"
    # only the rows shown are formatted (all for a `top` that is no count: head(0 or -n) as before)
    table = display_table(r.summary, r.comparisons, r.metric, limit=top if top > 0 else None).drop(columns=["sd"]).head(top)
    said = answer(r)
    lines = [said] if said else []  # first: the answer to the study's question
    lines += importance_lines(r)  # then which hyperparameters matter, against the seeds
    lines.append(f"{r.name}: {len(r.complete)}{f'/{planned}' if planned else ''} trials, {len(r.summary)} "
                 f"configurations, seeds {','.join(map(str, r.study.get('seeds', [])))}; {r.metric} ({r.direction}), "
                 "best first")
    lines += _fit(_columns([list(table.columns), *table.astype(str).values.tolist()]), table, width)
    lines.append(textwrap.fill(LEGEND, 100))
    note = moderation_note(r.comparisons)
    if note:
        lines.append(textwrap.fill(note, 100))
    if decided(r):  # the budget is news only where racing or pruning stopped something early
        lines.append(r.budget_line() + (f"; a seed race, {_race_settings(r.study)}" if r.racing is not None else ""))
    lines += variance_lines(r, top)
    return "\n".join(lines)


def decided(results: Results) -> bool:
    """Whether a seed race or pruning ran, so that work spent differs from the full design's."""
    return results.racing is not None or results.pruning is not None


def importance_lines(results: Results) -> list[str]:
    """'Of val_acc's variance: learning_rate explains 61 % [48, 70], momentum 9 %, seeds 18 %'
    (`Results.importance()`); nothing where there are too few configurations to tell."""
    from sweeper.analysis.importance import line

    if not results.searched:
        return []
    said = line(results.importance())
    return [f"Of {results.metric}'s variance over configurations and seeds: {said}"] if said else []


def variance_lines(results: Results, top: int = 10) -> list[str]:
    """With crossed seeds: where each configuration's spread comes from, as standard deviations."""
    r = results
    split = r.variance
    if split.empty:
        return []
    order = [t for t in r.summary.sort_values("rank", kind="stable")["trial"] if t in set(split["trial"])][:top]
    rows = [["configuration", *(f"{c} sd [95% CI]" for c in ("init", "order", "rest")), "init / order / rest share"]]
    for trial in order:
        parts = split[split["trial"] == trial].set_index("component")
        cells = [f"{parts.loc[c, 'sd']:.4f} [{parts.loc[c, 'ci_low'] ** 0.5:.4f}, {parts.loc[c, 'ci_high'] ** 0.5:.4f}]"
                 for c in ("init", "order", "rest")]
        shares = " / ".join(f"{parts.loc[c, 'share']:.0%}" for c in ("init", "order", "rest"))
        rows.append([str(parts["label"].iloc[0]), *cells, shares])
    crossed = r.study.get("crossed", {})
    return [f"where the seed-to-seed spread of {r.metric} comes from ({crossed.get('init')} initialisation x "
            f"{crossed.get('order')} data-order seeds): standard deviations, each part's share of the variance",
            *_columns(rows)]


def _fit(lines: list[str], table: Any, width: int | None) -> list[str]:
    """The table again, to fit `width` characters: shorter headers, no p column (the verdict
    says what it decided), the configuration and why cells cut (ending in '…'); unchanged
    where it fits or `width` is None."""
    if not width or max(map(len, lines)) <= width:
        return lines
    cells = table.astype(str).rename(columns=SHORT).drop(columns=["p (adjusted)"], errors="ignore")

    def render() -> list[str]:
        return _columns([list(cells.columns), *cells.values.tolist()])

    for col, least in (("why", 18), ("configuration", 20)):
        over = max(map(len, render())) - width
        if col in cells and over > 0:
            keep = max(least, int(cells[col].str.len().max()) - over)
            cells[col] = [v if len(v) <= keep else v[:keep - 1] + "…" for v in cells[col]]
    return render()


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _race_settings(study: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in study.get("racing", {}).items())


def short_repr(results: Results) -> str:
    """<Results lr_momentum: 60 trials (60/60 planned), 12 configurations, best lr=0.1 momentum=0.9 val_acc=0.9180>"""
    r = results
    planned = r.planned()
    if r.trials.empty:
        return f"<Results {r.name}: no finished trial yet>"
    best = r.summary.sort_values("rank", kind="stable", na_position="last").iloc[0]
    value = best[f"{r.metric}_mean"]
    shown = "no configuration has a result" if value != value else f"best {best['label']} {r.metric}={value:.4f}"
    return (f"<Results {r.name}: {len(r.complete)} trials{f' ({planned} planned)' if planned else ''}, "
            f"{len(r.summary)} configurations, {shown}>")


def repr_html(results: Results, top: int = HTML_ROWS) -> str:
    """The ranked table as HTML for a notebook, with the one-sentence answer above it."""
    r = results
    e = html.escape
    head = f"<p><b>{e(r.name)}</b>: {e(short_repr(r)[1:-1].split(': ', 1)[1])}</p>"
    if r.trials.empty:
        return head
    said = answer(r)
    table = display_table(r.summary, r.comparisons, r.metric)
    more = f"<p>{len(table) - top} more in <code>.summary</code></p>" if len(table) > top else ""
    rows = []
    for _, row in table.head(top).iterrows():
        style = ' style="font-weight:bold"' if row["verdict"] == stats.BEST else \
            ' style="color:#777"' if row["verdict"] == stats.WORSE else ""
        rows.append(f"<tr{style}>" + "".join(f"<td>{e(str(v))}</td>" for v in row.values) + "</tr>")
    return (head + (f"<p>{e(said)}</p>" if said else "") + '<table class="sweeper-results"><thead><tr>'
            + "".join(f"<th>{e(c)}</th>" for c in table.columns) + "</tr></thead><tbody>" + "".join(rows)
            + f"</tbody></table>{more}" + (f"<p><small>{e(r.budget_line())}</small></p>" if decided(r) else ""))
