"""Assemble the report's sections (text, tables, charts) and render them into one HTML file."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import jinja2
import polars as pl

from kam_pipeline.report import charts
from kam_pipeline.report.data import (
    BREAKDOWN_BOTTOM,
    BREAKDOWN_TOP,
    TREND_ACCOUNTS,
    ReportData,
    at_risk_accounts,
    breakdown_accounts,
    top_accounts,
)
from kam_pipeline.report.findings import Findings, analyse
from kam_pipeline.report.i18n import (
    indicator_value,
    join,
    method_name,
    money,
    number,
    percent,
    signed,
    t,
)
from kam_pipeline.report.lifecycle import bridge_sentence, lifecycle_section
from kam_pipeline.report.narrative import (
    Labels,
    account,
    backtest_sentences,
    cause_text,
    drop_sentence,
    grade_counts,
    overview,
    people_sentence,
    quality_sentence,
    risk_sentence,
    signed_percent,
    stability_sentences,
    target_sentence,
    targets_text,
)
from kam_pipeline.report.peers import peer_group_sentences
from kam_pipeline.scoring.model import ScoringModel

# The perspective chart shows every account of a small book, else the best and the worst this many.
TABLE_TOP, TABLE_BOTTOM = 10, 5
# League tables list every manager and team up to this many rows, then the best and the worst:
# a book of thousands of managers is for BI (marts.manager_scores), not for a page.
LEAGUE_TOP, LEAGUE_BOTTOM = 30, 10


@dataclass
class Table:
    """A table ready for the template: header cells and rows of text cells; `numeric` marks right-aligned columns."""

    headers: list[str]
    rows: list[list[str]]
    numeric: set[int] = field(default_factory=set)
    title: str | None = None
    note: str | None = None
    row_classes: list[str] = field(default_factory=list)


def _html_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kam_pipeline.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(data: ReportData, model: ScoringModel, lang: str) -> str:
    """Return the complete, self-contained HTML report of `data` in `lang` ('en' or 'zh')."""
    context = build_context(data, model, lang)
    return _html_env().get_template("report.html.j2").render(**context)


def build_context(data: ReportData, model: ScoringModel, lang: str) -> dict[str, Any]:
    """Every value the template shows, already formatted in `lang`."""
    labels = Labels(lang, model)
    key = ("findings", id(model))
    if key not in data.derived:
        data.derived[key] = analyse(data, model)
    findings = data.derived[key]

    def tr(key: str, /, **values: Any) -> str:
        return t(lang, key, **values)

    return {
        "lang": lang,
        "tr": tr,
        "as_of": data.as_of.isoformat(),
        "model_name": model.spec.label.get(lang, model.spec.name),
        "font_stack": charts.css_font_stack(lang),
        "sep": "" if lang == "zh" else " ",  # between two sentences of one paragraph (none in Chinese)
        "db_name": data.db_path.name,
        "cards": _cards(data, labels),
        "scope": _scope(data, labels),
        "method": _method(data, model, labels),
        "results": _results(data, model, labels),
        "quality": _quality(data, labels),
        "alerts": _alerts(data, model, labels),
        "conclusions": _conclusions(data, findings, labels),
    }


def _total_row(data: ReportData) -> dict[str, Any]:
    if "segment" not in data.portfolio.columns:
        return {}
    total = data.portfolio.filter(pl.col("segment") == "all")
    return total.row(0, named=True) if total.height else {}


def _cards(data: ReportData, labels: Labels) -> list[tuple[str, str]]:
    lang = labels.lang
    scored = data.scores.filter(pl.col("score").is_not_null())
    total = _total_row(data)
    alerts = 0 if data.alerts is None else data.alerts.get_column("account_id").n_unique()
    key = int(data.scores.get_column("is_key_account").sum())
    return [
        (str(scored.height), t(lang, "card_accounts", n=scored.height)),
        (str(key), t(lang, "card_key_accounts", n=key)),
        (number(scored.get_column("score").mean() if scored.height else None, 1, lang), t(lang, "card_avg_score")),
        (money(total.get("revenue"), lang), t(lang, "card_revenue")),
        (percent(total.get("nrr"), 1, lang), t(lang, "card_nrr")),
        (str(alerts), t(lang, "card_alerts", n=alerts)),
    ]


def _scope(data: ReportData, labels: Labels) -> list[tuple[str, str]]:
    lang = labels.lang
    rows = [(t(lang, "scope_as_of"), data.as_of.isoformat())]
    if data.window_days:
        start = data.as_of - dt.timedelta(days=data.window_days)
        end = data.as_of - dt.timedelta(days=1)
        rows.append(
            (t(lang, "scope_window"), t(lang, "scope_window_value", days=data.window_days, start=start, end=end))
        )
    scores = data.scores
    rows.append(
        (
            t(lang, "scope_accounts"),
            t(
                lang,
                "scope_accounts_value",
                scored=scores.filter(pl.col("score").is_not_null()).height,
                total=scores.height,
                key=int(scores.get_column("is_key_account").sum()),
            ),
        )
    )
    managers = data.managers.height
    teams = data.teams.height
    rows.append((t(lang, "scope_managers"), t(lang, "scope_managers_value", managers=managers, teams=teams)))
    rows.append(
        (
            t(lang, "scope_completeness"),
            t(
                lang,
                "scope_completeness_value",
                mean=percent(scores.get_column("completeness").mean(), 1, lang),
                insufficient=scores.filter(pl.col("grade") == "insufficient_data").height,
            ),
        )
    )
    if len(data.snapshots) == 1:
        snapshots = t(lang, "scope_snapshots_single", first=data.snapshots[0])
    else:
        snapshots = t(
            lang, "scope_snapshots_value", n=len(data.snapshots), first=data.snapshots[0], last=data.snapshots[-1]
        )
    rows.append((t(lang, "scope_snapshots"), snapshots))
    return rows


def _subject_model(model: ScoringModel, subject: str) -> ScoringModel:
    """The scorecard a weights row belongs to: the account model, or its manager scorecard."""
    if subject == "manager" and hasattr(model, "manager_model"):
        return model.manager_model()
    return model


def _method(data: ReportData, model: ScoringModel, labels: Labels) -> dict[str, Any]:
    lang = labels.lang
    weights = data.weights
    if weights.height and "subject" not in weights.columns:
        weights = weights.with_columns(pl.lit("account").alias("subject"))
    accounts = weights.filter(pl.col("subject") == "account") if weights.height else weights
    group_methods = sorted(set(accounts.get_column("group_method").to_list())) if accounts.height else []
    methods = sorted(set(accounts.get_column("method").to_list())) if accounts.height else []
    bands = join(lang, [f"{b.grade} ≥ {b.min:g}" for b in sorted(model.spec.grades, key=lambda b: -b.min)])
    text = [
        t(
            lang,
            "method_text",
            group_methods=join(lang, [method_name(m, lang) for m in group_methods]),
            methods=join(lang, [method_name(m, lang) for m in methods]),
        ),
        t(lang, "grade_bands", bands=bands, min_completeness=percent(model.spec.evaluation.min_completeness, 0, lang)),
        *peer_group_sentences(data, model, lang),
    ]
    tables = []
    # Account profiles first, then the managers' scorecard.
    pairs = weights.select("subject", "profile").unique(maintain_order=True).rows() if weights.height else []
    for subject, profile in sorted(pairs, key=lambda sp: sp[0] != "account"):
        scorecard = _subject_model(model, subject)
        names = Labels(lang, scorecard)
        directions = {i.id: i.direction for i in scorecard.indicators}
        part = weights.filter((pl.col("subject") == subject) & (pl.col("profile") == profile))
        if subject == "account":
            spec = model.spec.profiles.get(profile)
            segments = join(lang, list(spec.segments)) if spec and spec.segments else t(lang, "all_other_segments")
            title = t(lang, "profile_weights", profile=profile, segments=segments)
        else:
            title = t(
                lang,
                "manager_weights",
                methods=join(lang, sorted({method_name(m, lang) for m in part.get_column("method").to_list()})),
            )
        rows, classes, last_group = [], [], None
        for r in part.iter_rows(named=True):
            first = r["group"] != last_group
            last_group = r["group"]
            rows.append(
                [
                    f"{names.group(r['group'])} ({percent(r['group_weight'], 1, lang)})" if first else "",
                    names.indicator(r["indicator"]),
                    t(lang, f"direction_{directions.get(r['indicator'], 'higher')}"),
                    percent(r.get("subjective_weight"), 1, lang),
                    percent(r.get("objective_weight"), 1, lang),
                    percent(r["weight"], 1, lang),
                ]
            )
            classes.append("group-start" if first else "")
        tables.append(
            Table(
                title=title,
                note=_game_theory_note(part, names, lang),
                headers=[
                    t(lang, k)
                    for k in (
                        "col_group",
                        "col_indicator",
                        "col_direction",
                        "col_subjective",
                        "col_objective",
                        "col_weight",
                    )
                ],
                rows=rows,
                numeric={3, 4, 5},
                row_classes=classes,
            )
        )
    consistency_rows = []
    for r in data.consistency.iter_rows(named=True):
        subject = r.get("subject") or "account"
        names = Labels(lang, _subject_model(model, subject))
        name = r["matrix_name"]
        where = _matrix_where(name, data.consistency, names, lang)
        items = json.loads(r["items"]) if r.get("items") else []
        weights_list = json.loads(r["weights"]) if r.get("weights") else []
        item_names = [names.group(i) if name.startswith("groups") else names.indicator(i) for i in items]
        consistency_rows.append(
            [
                r["profile"] if subject == "account" else t(lang, "manager_scorecard"),
                where,
                str(r["n"]),
                join(lang, [f"{n} {percent(w, 1, lang)}" for n, w in zip(item_names, weights_list, strict=False)]),
                number(r["lambda_max"], 4, lang),
                number(r["ci"], 4, lang),
                number(r["random_index"], 2, lang),
                number(r["cr"], 4, lang),
                t(lang, "accepted" if r["accepted"] else "rejected"),
            ]
        )
    consistency = Table(
        title=t(lang, "consistency"),
        note=t(lang, "consistency_note"),
        headers=[
            t(lang, "col_profile"),
            t(lang, "col_matrix"),
            "n",
            t(lang, "col_weights"),
            "λmax",
            "CI",
            "RI",
            "CR",
            t(lang, "col_verdict"),
        ],
        rows=consistency_rows,
        numeric={2, 4, 5, 6, 7},
    )
    return {
        "text": text,
        "tables": tables,
        "consistency": consistency,
        "comparison": _method_comparison(data, model, labels),
        "stability": stability_sentences(data, labels),
    }


def _matrix_where(name: str, consistency: pl.DataFrame, names: Labels, lang: str) -> str:
    """The level of a weight_consistency row in words: `groups`, `indicators:<group>`, either with `:<expert>`."""
    level, _, rest = name.partition(":")
    if level == "groups":
        group, expert = None, rest
    else:
        group, _, expert = rest.partition(":")
    where = t(lang, "matrix_groups") if level == "groups" else t(lang, "matrix_indicators", group=names.group(group))
    if expert:
        return t(lang, "matrix_expert", where=where, expert=expert)
    # The aggregate of several experts is stored under the level's own name beside their rows.
    if consistency.get_column("matrix_name").str.starts_with(f"{name}:").any():
        return t(lang, "matrix_aggregate", where=where)
    return where


def _game_theory_note(part: pl.DataFrame, names: Labels, lang: str) -> str | None:
    """The α* of every game-theory combination of one profile's weights (between groups, inside groups)."""
    if "alpha_subjective" not in part.columns:
        return None
    levels = []
    first = part.row(0, named=True) if part.height else {}
    if "game_theory" in (first.get("group_method") or ""):
        levels.append((t(lang, "matrix_groups"), first["group_alpha_subjective"], first["group_alpha_objective"]))
    for r in part.unique("group", keep="first", maintain_order=True).iter_rows(named=True):
        if "game_theory" in (r["method"] or ""):
            where = t(lang, "matrix_indicators", group=names.group(r["group"]))
            levels.append((where, r["alpha_subjective"], r["alpha_objective"]))
    if not levels:
        return None
    parts = [
        t(lang, "game_theory_level", where=w, subjective=number(a, 3, lang), objective=number(b, 3, lang))
        for w, a, b in levels
    ]
    return t(lang, "game_theory_note", levels=join(lang, parts))


# The method comparison names at most this many accounts whose rank moves between methods.
RANK_SHIFT_ROWS = 10


def _method_comparison(data: ReportData, model: ScoringModel, labels: Labels) -> dict[str, Any] | None:
    """Agreement of TOPSIS and GRA with the weighted sum per profile, and the accounts ranked most differently."""
    lang = labels.lang
    comparison, agreement = data.method_comparison, data.method_agreement
    if comparison is None or agreement is None or not agreement.height:
        return None
    rows = [
        [
            r["profile"],
            str(r["accounts"]),
            *(number(r[c], 2, lang) for c in ("topsis_spearman", "topsis_kendall", "gra_spearman", "gra_kendall")),
        ]
        for r in agreement.sort("profile").iter_rows(named=True)
    ]
    table = Table(
        title=t(lang, "methods_agreement"),
        headers=[
            t(lang, k)
            for k in (
                "col_profile",
                "col_accounts",
                "col_topsis_spearman",
                "col_topsis_kendall",
                "col_gra_spearman",
                "col_gra_kendall",
            )
        ],
        rows=rows,
        numeric={1, 2, 3, 4, 5},
    )
    shifted = (
        comparison.with_columns(
            pl.max_horizontal(
                (pl.col("topsis_rank") - pl.col("rank")).abs(), (pl.col("gra_rank") - pl.col("rank")).abs()
            )
            .fill_null(0)
            .alias("shift")
        )
        .filter(pl.col("shift") > 0)
        .sort(["shift", "profile", "account_id"], descending=[True, False, False])
        .head(RANK_SHIFT_ROWS)
    )
    names = dict(data.scores.select("account_id", "account_name").iter_rows()) if data.scores.height else {}
    shifts = None
    if shifted.height:
        shifts = Table(
            title=t(lang, "methods_shifts", n=shifted.height),
            note=t(lang, "methods_shifts_note"),
            headers=[
                t(lang, k)
                for k in ("col_account", "col_profile", "col_rank_sum", "col_rank_topsis", "col_rank_gra", "col_shift")
            ],
            rows=[
                [
                    account(r["account_id"], names.get(r["account_id"])),
                    r["profile"],
                    *(str(r[c]) if r[c] is not None else "–" for c in ("rank", "topsis_rank", "gra_rank")),
                    str(r["shift"]),
                ]
                for r in shifted.iter_rows(named=True)
            ],
            numeric={2, 3, 4, 5},
        )
    return {
        "text": t(lang, "methods_text", rho=number(model.spec.methods.gra_rho, 2, lang)),
        "agreement": table,
        "shifts": shifts,
        "same": t(lang, "methods_same"),
    }


def _at_risk_accounts(data: ReportData, n: int) -> list[str]:
    """Accounts to watch: alerts first, then the largest score falls, then the lowest scores."""
    # The same choice as the one that decided which accounts' history the report read.
    return at_risk_accounts(data.scores, data.alerts, n)


def _results(data: ReportData, model: ScoringModel, labels: Labels) -> dict[str, Any]:
    lang = labels.lang
    scores = data.scores
    scored = scores.filter(pl.col("score").is_not_null())
    n_rank = min(15, scored.height)
    counts = grade_counts(data)
    out: dict[str, Any] = {"charts": []}
    if scored.height:
        title = t(lang, "chart_ranking_all" if n_rank == scored.height else "chart_ranking", n=n_rank)
        out["charts"].append(charts.ranking_chart(scores, title, t(lang, "key_marker"), n_rank))
    if counts:
        out["charts"].append(
            charts.grade_donut(
                counts, {g: labels.grade(g) for g, _ in counts}, t(lang, "chart_grades"), t(lang, "axis_accounts")
            )
        )
    top = top_accounts(scores, TREND_ACCOUNTS)
    risky = _at_risk_accounts(data, TREND_ACCOUNTS)
    # In rank order: the whole book when it is small, else the best and the worst with a gap between.
    split = scored.height > BREAKDOWN_TOP + BREAKDOWN_BOTTOM
    breakdown_ids = breakdown_accounts(scores)
    # Display names of the few accounts the charts show, not of the whole book.
    shown = scores.filter(pl.col("account_id").is_in([*top, *risky, *breakdown_ids]))
    names = {a: account(a, n) for a, n in shown.select("account_id", "account_name").iter_rows()}
    ranks = dict(shown.select("account_id", "rank").iter_rows())
    out["trend_note"] = t(lang, "trend_single") if len(data.snapshots) < 2 else None
    out["trends"] = []
    if len(data.snapshots) >= 2:
        if top:
            out["trends"].append(
                charts.trend_chart(
                    data.history,
                    [(a, names[a]) for a in top],
                    t(lang, "chart_trend_top"),
                    t(lang, "axis_score"),
                    "trend-top",
                )
            )
        if risky:
            out["trends"].append(
                charts.trend_chart(
                    data.history,
                    [(a, names[a]) for a in risky],
                    t(lang, "chart_trend_risk"),
                    t(lang, "axis_score"),
                    "trend-risk",
                )
            )
    if breakdown_ids and not data.contributions.is_empty():
        points = (
            data.contributions.filter(pl.col("account_id").is_in(breakdown_ids))
            .group_by(["account_id", "group"])
            .agg(pl.col("contribution").sum().alias("points"))
        )
        gap = None
        if split:
            first, last = BREAKDOWN_TOP + 1, scored.height - BREAKDOWN_BOTTOM
            gap = (BREAKDOWN_TOP, t(lang, "breakdown_gap", first=first, last=last))
            note = t(
                lang,
                "breakdown_split",
                top=BREAKDOWN_TOP,
                bottom=BREAKDOWN_BOTTOM,
                n=scored.height,
                first=first,
                last=last,
            )
        else:
            note = t(lang, "breakdown_all", n=scored.height)
        out["breakdown"] = charts.breakdown_chart(
            points,
            [(a, f"{ranks[a]}. {names[a]}") for a in breakdown_ids],
            [(g, labels.group(g)) for g in model.groups],
            t(lang, "chart_breakdown"),
            t(lang, "axis_points"),
            gap,
        )
        out["breakdown_note"] = note
    else:
        out["breakdown"], out["breakdown_note"] = None, None
    out["ranking"] = _ranking_table(scored, model, labels)
    out["managers"], out["teams"], out["kpi_note"] = _league_tables(data, model, labels)
    out["portfolio"] = _portfolio_table(data, labels)
    out["lifecycle"] = lifecycle_section(data, labels)
    return out


def _ranking_table(scored: pl.DataFrame, model: ScoringModel, labels: Labels) -> Table:
    lang = labels.lang
    ordered = scored.sort(["rank", "account_id"])
    split = ordered.height > TABLE_TOP + TABLE_BOTTOM
    rows_frame = pl.concat([ordered.head(TABLE_TOP), ordered.tail(TABLE_BOTTOM)]) if split else ordered
    groups = model.groups
    rows, classes = [], []
    for r in rows_frame.iter_rows(named=True):
        if split and len(rows) == TABLE_TOP:
            rows.append(
                _gap_row(
                    8 + len(groups), t(lang, "breakdown_gap", first=TABLE_TOP + 1, last=ordered.height - TABLE_BOTTOM)
                )
            )
            classes.append("gap")
        classes.append("")
        rows.append(
            [
                str(r["rank"]),
                account(r["account_id"], r["account_name"]),
                r["segment"],
                number(r["score"], 1, lang),
                signed(r.get("score_change"), 1, lang),
                labels.grade(r["grade"]),
                t(lang, "yes") if r["is_key_account"] else "",
                percent(r["completeness"], 0, lang),
                *[number(r.get(f"{g}_score"), 1, lang) for g in groups],
            ]
        )
    if split:
        note = t(
            lang,
            "ranking_table_note",
            top=TABLE_TOP,
            bottom=TABLE_BOTTOM,
            n=ordered.height,
            first=TABLE_TOP + 1,
            last=ordered.height - TABLE_BOTTOM,
        )
    else:
        note = t(lang, "ranking_table_all", n=ordered.height)
    return Table(
        title=t(lang, "ranking_table"),
        note=note,
        row_classes=classes,
        headers=[
            t(lang, k)
            for k in (
                "col_rank",
                "col_account",
                "col_segment",
                "col_score",
                "col_change",
                "col_grade",
                "col_key",
                "col_completeness",
            )
        ]
        + [labels.group(g) for g in groups],
        rows=rows,
        numeric={0, 3, 4, 7, *range(8, 8 + len(groups))},
    )


def _gap_row(width: int, label: str) -> list[str]:
    """A table row standing for the rows not shown: `⋯` under the rank, the label beside it."""
    return ["⋯", label, *[""] * (width - 2)]


def _league_tables(data: ReportData, model: ScoringModel, labels: Labels) -> tuple[Table, Table, str]:
    lang = labels.lang
    kpis = data.kpis
    has_kpis = kpis is not None and not kpis.is_empty() and "level" in kpis.columns

    # One pass over the KPI rows (not one filter per manager: a large book has thousands).
    attained: dict[tuple[str, str], tuple[float | None, int, int]] = {}
    if has_kpis:
        evaluated = pl.col("value").is_not_null()
        summary = kpis.group_by("level", "entity_id").agg(
            pl.col("attainment").filter(evaluated).clip(0, 1).mean().alias("attainment"),
            (pl.col("met").fill_null(False) & evaluated).sum().alias("met"),
            evaluated.sum().alias("evaluated"),
        )
        attained = {(r[0], r[1]): r[2:] for r in summary.iter_rows()}

    def kpi_cells(level: str, entity_id: str) -> list[str]:
        if not has_kpis:
            return []
        attainment, met, evaluated = attained.get((level, entity_id), (None, 0, 0))
        return [percent(attainment if evaluated else None, 0, lang), f"{met}/{evaluated}"]

    def table(frame: pl.DataFrame, level: str, id_col: str, name_col: str, title: str) -> Table:
        rows, classes, note, n, gap_at = [], [], None, frame.height, None
        if n > LEAGUE_TOP + LEAGUE_BOTTOM:
            # In rank order (report/data.py), unscored last: the worst are the lowest scores.
            ranked = frame.filter(pl.col("rank").is_not_null())
            bottom = max(0, min(LEAGUE_BOTTOM, ranked.height - LEAGUE_TOP))
            frame = pl.concat([ranked.head(LEAGUE_TOP), ranked.tail(bottom)])
            note = t(lang, "league_table_note", top=LEAGUE_TOP, bottom=bottom, n=n, table=f"{level}_scores")
            if bottom:
                gap_at = LEAGUE_TOP
        width = 10 + (2 if has_kpis else 0)
        for r in frame.iter_rows(named=True):
            if len(rows) == gap_at:
                rows.append(
                    _gap_row(width, t(lang, "breakdown_gap", first=LEAGUE_TOP + 1, last=ranked.height - bottom))
                )
                classes.append("gap")
            classes.append("")
            rows.append(
                [
                    str(r.get("rank") if r.get("rank") is not None else ""),
                    f"{r[id_col]} {r.get(name_col) or ''}".strip(),
                    number(r.get("score"), 1, lang),
                    labels.grade(r.get("grade")),
                    str(r.get("account_count") or 0),
                    money(r.get("revenue"), lang),
                    signed_percent(r.get("revenue_growth"), lang),
                    percent(r.get("nrr"), 1, lang),
                    percent(r.get("logo_retention"), 1, lang),
                    number(r.get("feedback_score"), 1, lang),
                    *kpi_cells(level, r[id_col]),
                ]
            )
        headers = [
            t(lang, k)
            for k in (
                "col_rank",
                "col_manager" if level == "manager" else "col_team",
                "col_score",
                "col_grade",
                "col_accounts",
                "col_revenue",
                "col_revenue_growth",
                "col_nrr",
                "col_logo_retention",
                "col_feedback",
            )
        ]
        if has_kpis:
            headers += [t(lang, "col_kpi"), t(lang, "col_kpis_met")]
        return Table(
            title=title,
            headers=headers,
            rows=rows,
            numeric=set(range(2, len(headers))) - {3} | {0},
            note=note,
            row_classes=classes,
        )

    managers = table(data.managers, "manager", "manager_id", "manager_name", t(lang, "managers"))
    teams = table(data.teams, "team", "team_id", "team_name", t(lang, "teams"))
    if has_kpis:
        targets = kpis.filter(pl.col("level") == "manager").select("kpi", "target").unique(maintain_order=True)
        note = t(
            lang,
            "kpi_note",
            targets=join(
                lang, [f"{labels.indicator(k)} {indicator_value(k, v, lang)}" for k, v in targets.iter_rows()]
            ),
        )
    else:
        note = t(lang, "kpi_missing")
    return managers, teams, note


def _portfolio_table(data: ReportData, labels: Labels) -> Table:
    lang = labels.lang
    frame = data.portfolio
    if frame.is_empty():
        return Table(title=t(lang, "portfolio"), headers=[], rows=[])
    frame = frame.with_columns((pl.col("segment") == "all").alias("_total")).sort(["_total", "segment"])
    rows = [
        [
            labels.segment(r["segment"]),
            str(r["account_count"]),
            money(r["revenue"], lang),
            signed_percent(r.get("revenue_growth"), lang),
            percent(r.get("logo_retention"), 1, lang),
            percent(r.get("churn_rate"), 1, lang),
            percent(r.get("nrr"), 1, lang),
            percent(r.get("grr"), 1, lang),
            percent(r.get("market_share"), 2, lang),
        ]
        for r in frame.iter_rows(named=True)
    ]
    return Table(
        title=t(lang, "portfolio"),
        headers=[
            t(lang, k)
            for k in (
                "col_segment",
                "col_accounts",
                "col_revenue",
                "col_revenue_growth",
                "col_logo_retention",
                "col_churn_rate",
                "col_nrr",
                "col_grr",
                "col_market_share",
            )
        ],
        rows=rows,
        numeric=set(range(1, 9)),
        row_classes=["total" if r["_total"] else "" for r in frame.iter_rows(named=True)],
    )


def _quality(data: ReportData, labels: Labels) -> dict[str, Any]:
    lang = labels.lang
    quarantined = int(data.quarantine_by_source.get_column("rows").sum()) if data.quarantine_by_source.height else 0
    by_source = Table(
        title=t(lang, "quarantine_by_source"),
        headers=[t(lang, "col_source"), t(lang, "col_rows")],
        rows=[[s, f"{n:,}"] for s, n in data.quarantine_by_source.iter_rows() if n],
        numeric={1},
    )
    by_rule = Table(
        title=t(lang, "quarantine_by_rule"),
        headers=[t(lang, "col_source"), t(lang, "col_column"), t(lang, "col_rule"), t(lang, "col_rows")],
        rows=[[s, c or "", r, f"{n:,}"] for s, c, r, n in data.quarantine_by_rule.head(12).iter_rows()],
        numeric={3},
    )
    failed = Table(
        title=t(lang, "failed_files"),
        headers=[t(lang, "col_source"), t(lang, "col_file"), t(lang, "col_status"), t(lang, "col_reason")],
        rows=[[s, f, t(lang, f"file_{status}"), r or ""] for s, f, status, r in data.failed_files.iter_rows()],
    )
    statuses = data.failed_files.get_column("status").to_list() if data.failed_files.height else []
    scored_accounts = data.scores.height or 1
    missing_table = Table(
        title=t(lang, "missing_indicators"),
        headers=[t(lang, "col_indicator"), t(lang, "col_missing"), t(lang, "col_share")],
        rows=[
            [labels.indicator(i), str(n), percent(n / scored_accounts, 0, lang)]
            for i, n, _share in data.missing_indicators.head(10).iter_rows()
        ],
        numeric={1, 2},
    )
    return {
        "text": t(lang, "quality_text", quarantined=f"{quarantined:,}", files=statuses.count("failed"))
        + (t(lang, "ignored_text", ignored=statuses.count("ignored")) if "ignored" in statuses else ""),
        "by_source": by_source,
        "by_rule": by_rule if by_rule.rows else None,
        "failed": failed if failed.rows else None,
        "missing": missing_table,
        "sentence": quality_sentence(data, labels),
    }


def _alerts(data: ReportData, model: ScoringModel, labels: Labels) -> dict[str, Any]:
    lang = labels.lang
    spec = model.spec.alerts
    rules = t(
        lang,
        "alerts_rule_text",
        points=f"{spec.score_drop_points:g}",
        grade_drop=t(lang, "on" if spec.grade_drop else "off"),
        churned=t(lang, "on" if spec.became_churned else "off"),
        scope=t(lang, "alerts_scope_key" if spec.key_accounts_only else "alerts_scope_all"),
    )
    compared = (
        t(lang, "alerts_first")
        if data.previous_as_of is None
        else t(lang, "alerts_compared", previous=data.previous_as_of)
    )
    rules = f"{rules}{'' if lang == 'zh' else ' '}{compared}"
    rows = []
    if data.alerts is not None:
        for r in data.alerts.sort(["account_id", "rule"]).iter_rows(named=True):
            rule = r["rule"]
            if rule == "score_drop":
                what = t(
                    lang,
                    "alert_score_drop",
                    previous=number(r["previous_score"], 1, lang),
                    score=number(r["score"], 1, lang),
                    change=signed(r["score_change"], 1, lang),
                )
            elif rule == "grade_drop":
                what = t(
                    lang, "alert_grade_drop", previous=labels.grade(r["previous_grade"]), grade=labels.grade(r["grade"])
                )
            else:
                recency = data.indicators.filter(pl.col("account_id") == r["account_id"]).get_column("recency_days")
                days = recency[0] if recency.len() and recency[0] is not None else t(lang, "not_available")
                what = t(lang, "alert_became_churned", days=days)
            driver = ""
            if r.get("driver_indicator"):
                ind = r["driver_indicator"]
                driver = t(
                    lang,
                    "driver_text",
                    indicator=labels.indicator(ind),
                    before=indicator_value(ind, r["driver_previous_value"], lang),
                    after=indicator_value(ind, r["driver_value"], lang),
                    points=signed(r["driver_change"], 1, lang),
                )
            rows.append(
                [
                    account(r["account_id"], r["account_name"]),
                    labels.rule(rule),
                    what,
                    driver,
                    t(lang, "yes") if r["is_key_account"] else "",
                ]
            )
    table = Table(
        headers=[
            t(lang, "col_account"),
            t(lang, "col_rule"),
            t(lang, "col_what"),
            t(lang, "col_driver"),
            t(lang, "col_key"),
        ],
        rows=rows,
    )
    empty = t(lang, "no_previous") if data.previous_as_of is None else t(lang, "no_alerts")
    return {"rules": rules, "table": table if rows else None, "empty": empty}


def _conclusions(data: ReportData, findings: Findings, labels: Labels) -> dict[str, Any]:
    lang = labels.lang
    drops = [drop_sentence(d, labels) for d in findings.drops]
    if not drops:
        drops_empty = (
            t(lang, "no_drops", previous=data.previous_as_of) if data.previous_as_of else t(lang, "no_previous_drops")
        )
    else:
        drops_empty = None
    if not findings.targets:
        targets_summary = t(lang, "no_targets")
    elif findings.key_below_target == 0:
        targets_summary = t(lang, "all_targets_met")
    else:
        targets_summary = t(
            lang,
            "targets_summary",
            below=findings.key_below_target,
            key=findings.key_accounts,
            targets=targets_text(findings.targets, labels),
        )
    # A list shorter than the count it follows says how many are left out and where they are.
    hidden = findings.key_below_target - len(findings.below_target)
    targets_more = t(lang, "targets_more", shown=len(findings.below_target), rest=hidden) if hidden > 0 else None
    hidden = findings.drop_count - len(findings.drops)
    drops_more = (
        t(
            lang,
            "drops_more",
            total=findings.drop_count,
            shown=len(findings.drops),
            rest=hidden,
            previous=data.previous_as_of,
        )
        if hidden > 0
        else None
    )
    # One row per action: the accounts it applies to and, for each, why.
    actions = Table(
        title=t(lang, "actions_heading"),
        note=t(lang, "actions_note"),
        headers=[t(lang, "col_action"), t(lang, "col_why")],
        rows=[
            [
                labels.action(action),
                join(
                    lang,
                    [
                        t(lang, "account_cause", account=account(aid, name), cause=cause_text(cause, indicator, labels))
                        for aid, name, cause, indicator in entries
                    ],
                ),
            ]
            for action, entries in findings.actions.items()
        ],
    )
    return {
        "overview": overview(data, findings, labels),
        "bridge": bridge_sentence(data, labels),
        "drops": drops,
        "drops_empty": drops_empty,
        "drops_more": drops_more,
        "targets_more": targets_more,
        "drop_actions": [t(lang, "suggested_action", action=labels.action(d.action)) for d in findings.drops],
        "targets_summary": targets_summary,
        "targets": [
            (target_sentence(b, labels), t(lang, "suggested_action", action=labels.action(b.action)))
            for b in findings.below_target
        ],
        "risks": [
            (risk_sentence(r, labels), t(lang, "suggested_action", action=labels.action(r.action)))
            for r in findings.risks
        ],
        "risks_empty": t(lang, "no_risks"),
        "backtest": backtest_sentences(data, labels),
        "people": people_sentence(data, labels),
        "actions": actions,
        "actions_empty": t(lang, "no_actions"),
    }
