"""Compare synthetic daily distributions with the real Fitbit export:
``python -m fitlake.generate.compare --real DIR --synthetic LANDING [--markdown]``.

Reads ``dailyActivity_merged*.csv`` and ``sleepDay_merged*.csv`` below each folder (recursively) and prints
mean / median / p10 / p90 of daily steps, calories and minutes asleep for both. Rows that do not parse as numbers
(injected defects) are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = (("daily steps", "dailyActivity", "TotalSteps"), ("daily calories", "dailyActivity", "Calories"),
           ("minutes asleep", "sleepDay", "TotalMinutesAsleep"))


def _values(folder: Path, stem: str, column: str) -> np.ndarray:
    frames = [pd.read_csv(p, usecols=[column], dtype=str) for p in sorted(folder.rglob(f"{stem}_merged*.csv"))]
    if not frames:
        return np.array([])
    values = pd.to_numeric(pd.concat(frames)[column], errors="coerce").dropna().to_numpy()
    return values[(values >= 0) & (values <= 100_000)]


def describe(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"n": 0, "mean": float("nan"), "median": float("nan"), "p10": float("nan"), "p90": float("nan")}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"n": len(values), "mean": float(values.mean()), "median": float(p50), "p10": float(p10), "p90": float(p90)}


def compare(real: str | Path, synthetic: str | Path) -> pd.DataFrame:
    rows = []
    for label, stem, column in METRICS:
        for source, folder in (("real", Path(real)), ("synthetic", Path(synthetic))):
            rows.append({"metric": label, "data": source, **describe(_values(folder, stem, column))})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["| metric | data | n | mean | median | p10 | p90 |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in table.itertuples():
        lines.append(f"| {r.metric} | {r.data} | {r.n:,} | {r.mean:,.0f} | {r.median:,.0f} | {r.p10:,.0f} | "
                     f"{r.p90:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fitlake.generate.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--real", required=True, help="folder of the real export")
    parser.add_argument("--synthetic", required=True, help="a generated landing folder")
    args = parser.parse_args(argv)
    print(to_markdown(compare(args.real, args.synthetic)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
