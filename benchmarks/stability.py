"""What the stability bootstrap (marts.weight_stability, rank_stability) costs, and what B buys.

    .venv/bin/python benchmarks/stability.py --accounts 2000

Generates a data set with `kam generate`, runs `kam run` once (model with stability draws 0),
then times score_snapshot (the account_scores step: every account scored, every mart of the
step written) on the working database for several B, and compares each B's bands with those of
B = 1000 (mean absolute difference of weight_p05 / weight_p95, and of rank_p05 / rank_p95).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

from kam_pipeline.scoring.model import default_model_path, load_model
from kam_pipeline.scoring.snapshot import score_snapshot

END = dt.date.today() - dt.timedelta(days=2)
AS_OF = END + dt.timedelta(days=1)
REFERENCE = 1000


def model_with(draws: int, folder: Path):
    document = yaml.safe_load(default_model_path().read_text(encoding="utf-8"))
    document["stability"] = {"draws": draws, "seed": 7}
    path = folder / f"model_{draws}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_model(path)


def bands(conn: duckdb.DuckDBPyConnection) -> tuple[dict, dict]:
    weights = conn.execute(
        "select profile, indicator, weight_p05, weight_p95 from marts.weight_stability where as_of_date = ?", [AS_OF]
    ).fetchall()
    ranks = conn.execute(
        "select account_id, rank_p05, rank_p95 from marts.rank_stability where as_of_date = ?", [AS_OF]
    ).fetchall()
    return {(p, i): (a, b) for p, i, a, b in weights}, {a: (lo, hi) for a, lo, hi in ranks}


def mean_gap(ours: dict, reference: dict) -> float:
    gaps = [abs(x - y) for key, pair in ours.items() for x, y in zip(pair, reference[key], strict=True)]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 50, 100, 200, 400])
    args = parser.parse_args()
    kam = [sys.executable, "-m", "kam_pipeline.cli"]
    with tempfile.TemporaryDirectory(prefix="kam-stability-") as tmp:
        work = Path(tmp)
        data, db = work / "data", work / "kam.duckdb"
        subprocess.run(
            [*kam, "generate", "--out", str(data), "--accounts", str(args.accounts), "--end", str(END)], check=True
        )
        off = model_with(0, work)
        subprocess.run(
            [*kam, "run", "--data", str(data), "--db", str(db), "--as-of", str(AS_OF), "--model", off.path, "--quiet"],
            check=True,
        )
        with duckdb.connect(str(work / "kam.work.duckdb")) as conn:
            profiles = conn.execute(
                "select profile, count(*) from marts.account_scores where as_of_date = ? group by all order by 2 desc",
                [AS_OF],
            ).fetchall()
            print(f"{args.accounts} accounts; profiles: {', '.join(f'{p} {n}' for p, n in profiles)}")
            score_snapshot(conn, model_with(REFERENCE, work), AS_OF)
            reference = bands(conn)
            print("draws | score_snapshot s | weight band gap | rank band gap (vs B = 1000)")
            for draws in args.draws:
                model = model_with(draws, work)
                start = time.perf_counter()
                score_snapshot(conn, model, AS_OF)
                seconds = time.perf_counter() - start
                weights, ranks = bands(conn)
                print(
                    f"{draws:5d} | {seconds:16.2f} | {mean_gap(weights, reference[0]):15.4f} | "
                    f"{mean_gap(ranks, reference[1]):13.2f}"
                )


if __name__ == "__main__":
    main()
