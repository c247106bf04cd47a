"""What the stability bootstrap (marts.weight_stability, rank_stability) costs, and what B buys.

    .venv/bin/python benchmarks/stability.py --accounts 2000
    .venv/bin/python benchmarks/stability.py --data DATA_10M --work SCRATCH --repeats 2   # a daily run at 10M

Without --data: generates a data set with `kam generate` (--accounts) and runs `kam run` once
(model with stability draws 0). With --data (a generated data set with daily orders files, read
only: it is copied into --work): `kam run` for the day after its last daily file (draws 0; kept in
--work and reused by a later invocation), then one new daily file (the last one's lines again,
dated that day) and a daily `kam run` for the next date, once with stability draws 0 and once with
--daily-draws (200), each on its own copy of the database and in its own process (--repeats
times, alternating; medians): wall time, user + system CPU seconds and peak RSS from the kernel,
the account_scores step from Dagster.

Then, on the working database of the last run, the B sweep: for the biggest profile (all its
accounts) and a --segment-sized sample of it (a key-account segment), the bootstrap and its two
marts' rows (stability.bootstrap + stability_of: the stability step of the account scoring) for
each B of --draws with two seeds. Time (wall and process CPU) is that of seed 7; precision is how
far the two seeds' bands lie apart (mean |difference| of weight_p05/p95 in weight points of 100,
of rank_p05/p95 in places, of grade_stability) and how many `unstable` flags differ: the
Monte-Carlo error of one B, which shrinks like 1/sqrt(B).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import yaml

from kam_pipeline.scoring.engine import score_profile
from kam_pipeline.scoring.model import ScoringModel, default_model_path, load_model
from kam_pipeline.scoring.snapshot import _indicator_frame, _profile_of, _values  # the scoring step's inputs
from kam_pipeline.scoring.stability import bootstrap, stability_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import measure  # noqa: E402 (the sibling benchmark's helper)

END = dt.date.today() - dt.timedelta(days=2)
SEEDS = (7, 8)
KAM = [sys.executable, "-m", "kam_pipeline.cli"]


def model_with(draws: int, folder: Path, seed: int = 7) -> ScoringModel:
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["stability"] = {"draws": draws, "seed": seed}
    path = folder / f"model_{draws}_{seed}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_model(path)


def kam_run(data: Path, db: Path, as_of: dt.date, model: ScoringModel) -> dict:
    timings = db.with_name("timings.json")
    result = measure(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", str(as_of), "--model", str(model.path)]
        + ["--quiet", "--timings", str(timings)]
    )
    result["stages"] = json.loads(timings.read_text()) if timings.exists() else {}
    return result


def last_daily_date(data: Path) -> dt.date:
    dates = [re.fullmatch(r"orders_(\d{4}-\d{2}-\d{2})\.csv", f.name) for f in data.glob("orders_*.csv")]
    found = sorted(dt.date.fromisoformat(m.group(1)) for m in dates if m)
    if not found:
        raise SystemExit(f"{data} has no daily orders_YYYY-MM-DD.csv file")
    return found[-1]


def add_daily_file(data: Path, day: dt.date) -> None:
    """The next day's drop: the last daily file's lines again, as new orders dated `day`."""
    template = data / f"orders_{last_daily_date(data)}.csv"
    frame = pl.read_csv(template, infer_schema=False)
    frame = frame.with_columns(
        ("N" + pl.col("order_id")).alias("order_id"), pl.lit(day.isoformat()).alias("order_date")
    )
    frame.write_csv(data / f"orders_{day}.csv")


def daily_runs(source: Path, work: Path, daily_draws: int, repeats: int = 1) -> tuple[Path, dt.date]:
    """The 10M part: base run, one daily file, the next date with draws 0 and `daily_draws`.
    Returns the working database of the last run and its as-of date."""
    data, base = work / "data", work / "base"
    as_of = last_daily_date(source) + dt.timedelta(days=1)
    nxt = as_of + dt.timedelta(days=1)
    if not (base / "DONE").exists():
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(source, data)  # the pipeline refuses links to files outside the data folder
        base.mkdir(parents=True)
        first = kam_run(data, base / "kam.duckdb", as_of, model_with(0, work))
        (base / "DONE").write_text(json.dumps({k: first[k] for k in ("wall_s", "cpu_s", "rss_mib")}))
        print(f"base run ({as_of}, draws 0): {first['wall_s']:.1f} s wall, {first['cpu_s']:.1f} s CPU", flush=True)
    else:
        print(f"base run ({as_of}) reused from {base}", flush=True)
    if not (data / f"orders_{as_of}.csv").exists():
        add_daily_file(data, as_of)
    lines = sum(1 for f in data.glob("orders*.csv") for _ in f.open()) - len(list(data.glob("orders*.csv")))
    runs: dict[int, list[dict]] = {0: [], daily_draws: []}
    for _ in range(repeats):  # alternating, so a change of the machine's load hits both alike
        for draws in (0, daily_draws):
            target = work / f"daily_{draws}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(base, target, ignore=shutil.ignore_patterns("reports", "DONE", "*.lock"))
            runs[draws].append(kam_run(data, target / "kam.duckdb", nxt, model_with(draws, work)))
            last = runs[draws][-1]
            print(f"daily run, draws {draws}: {last['wall_s']:.1f} s wall, {last['cpu_s']:.1f} s CPU", flush=True)
    results = {draws: _median(r) for draws, r in runs.items()}
    print(f"\n{lines:,} order lines; daily run for {nxt} (one new daily file), each in its own process", end="")
    print(f", median of {repeats}" if repeats > 1 else "")
    print("draws | wall s | CPU s (user+sys) | peak RSS MiB | account_scores step s")
    for draws, r in results.items():
        step = r["stages"].get("account_scores", float("nan"))
        print(f"{draws:5d} | {r['wall_s']:6.1f} | {r['cpu_s']:16.1f} | {r['rss_mib']:12.0f} | {step:21.1f}")
    off, on = results[0], results[daily_draws]
    step_off, step_on = (r["stages"].get("account_scores", float("nan")) for r in (off, on))
    print(
        f"stability at B = {daily_draws}: {on['wall_s'] - off['wall_s']:+.1f} s wall "
        f"({on['wall_s'] / off['wall_s']:.2f}x), {on['cpu_s'] - off['cpu_s']:+.1f} s CPU "
        f"({on['cpu_s'] / off['cpu_s']:.2f}x); account_scores step {step_on - step_off:+.1f} s "
        f"({step_on / step_off:.2f}x)\n"
    )
    return target / "kam.work.duckdb", nxt


def _median(runs: list[dict]) -> dict:
    stages = {k: statistics.median(r["stages"].get(k, float("nan")) for r in runs) for k in runs[0]["stages"]}
    return {**{k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "rss_mib")}, "stages": stages}


def profile_inputs(work_db: Path, as_of: dt.date, model: ScoringModel) -> tuple[str, np.ndarray, np.ndarray]:
    """The biggest profile of the date: its name, raw values and churn flags (as score_snapshot reads them)."""
    with duckdb.connect(str(work_db), read_only=True) as conn:
        frame = _indicator_frame(conn, model, as_of)
    frame = frame.with_columns(_profile_of(frame, model).alias("profile")).filter(pl.col("profile").is_not_null())
    name = frame.group_by("profile").len().sort("len", descending=True).row(0)[0]
    values, churned = _values(frame.filter(pl.col("profile") == name), model)
    return name, values, churned


def stability_step(model: ScoringModel, name: str, values: np.ndarray, churned: np.ndarray, draws: int, seed: int):
    """The stability step of one profile (bootstrap and both marts' rows); its rows, wall and CPU seconds."""
    profile = model.profile(name)
    real = score_profile(model, profile, values, churned)
    ids = [f"a{i}" for i in range(len(values))]
    wall, cpu = time.perf_counter(), time.process_time()
    draw = bootstrap(model, profile, values, churned, draws=draws, seed=seed)
    weights, ranks = stability_of(model, real, draw, None, ids)
    return weights, ranks, time.perf_counter() - wall, time.process_time() - cpu


def gap(a: pl.DataFrame, b: pl.DataFrame, key: str, columns: tuple[str, ...]) -> float:
    joined = a.join(b, on=key, suffix="_b")
    return float(np.mean([np.abs(joined[c] - joined[f"{c}_b"]).mean() for c in columns]))


def sweep(work_db: Path, as_of: dt.date, draws: list[int], segment: int) -> None:
    model = load_model(default_model_path())
    name, values, churned = profile_inputs(work_db, as_of, model)
    pick = np.sort(np.random.default_rng(0).choice(len(values), size=min(segment, len(values)), replace=False))
    print(f"B sweep: profile '{name}' ({len(values):,} accounts) and a sample of {len(pick)} of them; seeds {SEEDS}")
    print(
        "accounts | B | step wall s | step CPU s | weight band gap (points) | unstable flags differing | "
        "rank band gap (places) | grade_stability gap | mean band width: weight (points), rank (places)"
    )
    for rows in (np.arange(len(values)), pick):
        for b in draws:
            (w1, r1, wall, cpu), (w2, r2, _, _) = (
                stability_step(model, name, values[rows], churned[rows], b, seed) for seed in SEEDS
            )
            flags = int((w1["unstable"] != w2["unstable"]).sum())
            width = float(((w1["weight_p95"] - w1["weight_p05"]) * 100).mean())
            places = float((r1["rank_p95"] - r1["rank_p05"]).mean())
            print(
                f"{len(rows):8,} | {b:3d} | {wall:11.2f} | {cpu:10.2f} | "
                f"{100 * gap(w1, w2, 'indicator', ('weight_p05', 'weight_p95')):24.3f} | {flags:24d} | "
                f"{gap(r1, r2, 'account_id', ('rank_p05', 'rank_p95')):22.2f} | "
                f"{gap(r1, r2, 'account_id', ('grade_stability',)):19.4f} | {width:.2f}, {places:.1f}",
                flush=True,
            )


def generated(work: Path, accounts: int) -> tuple[Path, dt.date]:
    data, db = work / "data", work / "kam.duckdb"
    as_of = END + dt.timedelta(days=1)
    subprocess.run([*KAM, "generate", "--out", str(data), "--accounts", str(accounts), "--end", str(END)], check=True)
    off = model_with(0, work)
    subprocess.run(
        [*KAM, "run", "--data", str(data), "--db", str(db), "--as-of", str(as_of), "--model", off.path, "--quiet"],
        check=True,
    )
    return work / "kam.work.duckdb", as_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000, help="accounts to generate (without --data)")
    parser.add_argument("--data", type=Path, help="a generated data set with daily files (read only)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp dir); keeps the base run")
    parser.add_argument("--daily-draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1, help="daily runs per B (medians)")
    parser.add_argument("--draws", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--segment", type=int, default=40, help="accounts of the key-account segment sample")
    args = parser.parse_args()
    scratch = None if args.work else tempfile.TemporaryDirectory(prefix="kam-stability-")
    work = args.work or Path(scratch.name)
    work.mkdir(parents=True, exist_ok=True)
    if args.data:
        work_db, as_of = daily_runs(args.data, work, args.daily_draws, args.repeats)
    else:
        work_db, as_of = generated(work, args.accounts)
    sweep(work_db, as_of, args.draws, args.segment)
    if scratch:
        scratch.cleanup()


if __name__ == "__main__":
    main()
