"""outputs/report.html: the page a researcher opens first after ``make scenarios``.

One self-contained HTML file (figures embedded as PNG, tables as HTML with their CSV embedded as
downloads, no network): which scenarios reach which targets, by when and with what probability;
each scenario's effect against the baseline as paired differences with their intervals;
trajectories with the target lines; costs; maps of the county; methods and provenance.

It reads only what the suite wrote (``outputs/scenarios/*/`` and ``outputs/scorecard.csv``), so
``health-sim report`` can rebuild it without running anything. The figures are the functions of
:mod:`health_sim.viz` the notebooks use. The template is ``templates/report.html.j2`` (jinja2).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
import pandas as pd

from health_sim import __version__, viz
from health_sim.config.params import load_params
from health_sim.core.paths import atomic_write_text, repo_root
from health_sim.experiments import compare
from health_sim.experiments.outdir import check_file_place
from health_sim.experiments.targets import OPS, load_targets
from health_sim.world.county import county_map

HEAD = "<!DOCTYPE html>\n<!-- written by health-sim report -->"
"""How the report starts: a file that starts otherwise was not written by health-sim and is not replaced."""

HEADLINE = "grassroots_share_65"
"""The target the summary leads with."""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _csv(df: pd.DataFrame) -> str:
    return "data:text/csv;base64," + base64.b64encode(df.to_csv(index=False).encode("utf-8")).decode("ascii")


def _pct(v) -> str:
    return "" if pd.isna(v) else f"{v:.0%}"


def _num(v) -> str:
    if pd.isna(v):
        return ""
    a = abs(float(v))
    return f"{v:,.0f}" if a >= 100 else f"{v:,.2f}" if a >= 1 else f"{v:.3f}"


def _verdict_colour(v: str) -> str:
    return {
        "met": "background-color:#d9f0d3",
        "not met": "background-color:#f6d5d5",
        "not reachable by design": "background-color:#e6e6e6",
    }.get(v, "")


def _scorecard_table(card: pd.DataFrame) -> str:
    shown = card[["scenario", "target", "kpi", "op", "threshold", "year", "mean", "lo", "hi", "share_met", "verdict"]]
    shown = shown.assign(reason=card.get("reason", "")).rename(
        columns={"share_met": "probability", "lo": "lo (5%)", "hi": "hi (95%)"}
    )
    return (
        shown.style.format({"threshold": _num, "mean": _num, "lo (5%)": _num, "hi (95%)": _num, "probability": _pct})
        .format(lambda v: "" if pd.isna(v) else str(v), subset=["reason"])
        .map(_verdict_colour, subset=["verdict"])
        .hide(axis="index")
        .set_table_attributes('class="data"')
        .to_html()
    )


def _effects_table(diffs: pd.DataFrame) -> str:
    cols = ["scenario", "kpi", "unit", "year", "baseline", "scenario_mean", "difference", "lo", "hi", "relative"]
    shown = diffs[cols]
    return (
        shown.style.format(
            {"baseline": _num, "scenario_mean": _num, "difference": _num, "lo": _num, "hi": _num, "relative": "{:+.1%}"}
        )
        .hide(axis="index")
        .set_table_attributes('class="data"')
        .to_html()
    )


def _summary(suite: compare.Suite, card: pd.DataFrame, targets) -> list[str]:
    """Sentences: which scenarios reach which targets, by when, with what probability."""
    lines = []
    by_name = {t.name: t for t in targets}
    order = [HEADLINE] + [t.name for t in targets if t.name != HEADLINE] if HEADLINE in by_name else list(by_name)
    for name in order:
        t = by_name[name]
        rows = card[(card["target"] == name) & (card["status"] == "ok")]
        likely = rows[rows["share_met"] >= 0.9]["scenario"].tolist()
        unsure = rows[(rows["share_met"] > 0.1) & (rows["share_met"] < 0.9)]["scenario"].tolist()
        design = rows[rows["verdict"] == "not reachable by design"]
        text = f"<b>{name}</b> ({t.kpi} {t.op} {_num(t.threshold)}, judged in {rows['year'].dropna().max():.0f}): "
        text += f"{len(likely)} of {len(rows)} scenarios meet it with probability at least 90%"
        if likely and name == HEADLINE:
            first = compare.first_year(suite, t.kpi, OPS[t.op], t.threshold).set_index("scenario")
            years = first.loc[[s for s in likely if s in first.index], "first_year"].dropna().astype(int)
            groups = years.groupby(years).groups
            text += (
                " (first year the mean meets it: "
                + "; ".join(
                    f"{y}: " + ("all of them" if len(names) == len(rows) else ", ".join(names))
                    for y, names in sorted(groups.items())
                )
                + ")"
            )
        elif likely:
            text += " (all of them)" if len(likely) == len(rows) else f" ({', '.join(likely)})"
        if not likely and rows["mean"].notna().any():
            best = rows.loc[(rows["mean"] if t.op in (">=", ">") else -rows["mean"]).idxmax()]
            text += f"; closest: {best['scenario']}, {_num(best['mean'])} in {best['year']:.0f}"
        if unsure:
            text += f"; uncertain (10-90%) in {', '.join(unsure)}"
        if len(design):
            text += f"; not reachable by design in {len(design)} ({design['reason'].iloc[0]})"
        lines.append(text + ".")
    return lines


def _provenance(suite: compare.Suite) -> pd.DataFrame:
    rows = []
    for name in suite.names:
        m = suite.manifest[name]
        rows.append(
            {
                "scenario": name,
                "replicates": len(m.get("seeds", [])),
                "scale": m.get("scale"),
                "days": m.get("days"),
                "params_sha256": str(m.get("params_sha256", ""))[:16],
                "ensemble": Path(m["ensemble"]).name if m.get("ensemble") else "none (base values)",
                "members": ", ".join(str(x) for x in m.get("ensemble_members", [])),
                "git_commit": m.get("git_commit", ""),
                "seeds": ", ".join(str(s) for s in m.get("seeds", [])),
            }
        )
    return pd.DataFrame(rows)


def build(out_root: str | Path, card: pd.DataFrame | None = None, targets_file: str | Path | None = None) -> str:
    """The report's HTML from the suite's outputs under ``out_root`` (``card``: the scorecard, else its CSV)."""
    out_root = Path(out_root)
    root = repo_root()
    targets = load_targets(targets_file or root / "params" / "targets.yaml")
    suite = compare.read_suite(out_root)
    if compare.BASELINE not in suite.annual:
        raise ValueError(f"{out_root}: the suite's outputs have no {compare.BASELINE}: run the scenarios first")
    card = card if card is not None else pd.read_csv(out_root / "scorecard.csv")
    card = card[card["scenario"].isin(suite.names)]
    n = suite.replicates
    years = suite.years
    prob, verdict = compare.attainment(card)
    diffs = compare.paired_differences(suite)
    label = compare.interval_label(n)
    base_params = load_params(root / "params" / "scenarios" / f"{compare.BASELINE}.yaml")
    seed = int(suite.manifest[compare.BASELINE]["seeds"][0])
    cmap = county_map(base_params, seed)
    base_share = compare.township_shares(suite, compare.BASELINE)
    changes = {  # percentage points
        name: 100.0 * (compare.township_shares(suite, name) - base_share)
        for name in suite.names
        if name != compare.BASELINE and name in suite.township
    }
    period = f"{min(years)}-{max(years)}"
    headline = next((t for t in targets if t.name == HEADLINE), None)
    figures = {
        "matrix": _png(viz.attainment_heatmap(prob, verdict, replicates=n)),
        "effects": _png(viz.paired_forest(diffs, compare.MAIN_KPIS, label)),
        "trajectories": _png(
            viz.trajectories(suite, "grassroots_share", headline.threshold if headline else viz.TARGET_SHARE)
        ),
        "costs": _png(viz.cost_bars(suite, compare.COST_KPIS)),
        "map": _png(
            viz.county_map(
                cmap,
                base_share,
                title=f"Grassroots share of visits by township of residence, baseline, {period}",
                label=f"grassroots share of visits, {period} (mean of {n} replicates)",
            )
        ),
        "change_maps": _png(
            viz.county_maps(
                cmap,
                changes,
                title=f"Change of the grassroots share against the baseline by township, {period} "
                f"(percentage points, mean paired difference of {n} replicates)",
                label="change of the grassroots share (percentage points)",
            )
        )
        if changes
        else "",
    }
    prov = _provenance(suite)
    calibrated = sorted({m.get("ensemble", "") for m in suite.manifest.values()} - {""})
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("health_sim", "templates"), autoescape=jinja2.select_autoescape(["html", "j2"])
    )
    html = env.get_template("report.html.j2").render(
        head=HEAD,
        title="health_sim: scenario report",
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        commit=suite.manifest[compare.BASELINE].get("git_commit", ""),
        scale=suite.manifest[compare.BASELINE].get("scale"),
        replicates=n,
        period=period,
        scenarios=len(suite.names),
        ensemble=", ".join(calibrated) if calibrated else "",
        summary=_summary(suite, card, targets),
        figures=figures,
        interval=label,
        scorecard=_scorecard_table(card),
        scorecard_csv=_csv(card),
        effects=_effects_table(diffs),
        effects_csv=_csv(diffs),
        provenance=prov.style.hide(axis="index").set_table_attributes('class="data"').to_html(),
        provenance_csv=_csv(prov),
        targets=targets,
        last_year=max(years),
    )
    return html


def write(
    out_root: str | Path, card: pd.DataFrame | None = None, force: bool = False, path: str | Path | None = None
) -> Path:
    """Write the report to ``path`` [default: ``out_root/report.html``].

    An existing file health-sim did not write is refused unless ``force``.
    """
    target = Path(path) if path else Path(out_root) / "report.html"
    check_file_place(target, lambda text: text.startswith(HEAD), force=force)
    html = build(out_root, card)
    return atomic_write_text(target, html)
