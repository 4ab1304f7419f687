"""``fitlake run``: the batch job graph, ingest -> silver -> gold (later issues append train -> score to STAGES).

Thin on purpose: each stage calls its layer's entry point and reports counts; the work lives in the layers. One
run per lakehouse at a time (``<root>/_run.lock`` locally; on Databricks the job's ``max_concurrent_runs: 1``);
quarantined rows are data, not failure, so they never change the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fitlake.config import Settings
from fitlake.locks import file_lock
from fitlake.options import add_common_arguments, settings_from_args


class PipelineError(RuntimeError):
    """A problem the user can fix, said in one sentence."""


@dataclass
class RunReport:
    run_id: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    bronze: list[dict] = field(default_factory=list)
    silver: list = field(default_factory=list)  # fitlake.silver.job.TableCounts
    gold: list = field(default_factory=list)  # fitlake.gold.job.GoldCounts
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[object, Settings, RunReport, Callable[[str], None]], None]


# ---- stages --------------------------------------------------------------------------------------------------------
def _ingest(spark, settings: Settings, report: RunReport, say) -> None:
    from fitlake.bronze import ingest_all

    report.bronze = ingest_all(spark, settings, progress=lambda line: say(f"  bronze  {line}"))
    from fitlake.bronze.landing_report import format_notes, landing_notes

    if settings.is_local:  # misplaced and unknown files (a plain walk of the local landing folder)
        report.notes += landing_notes(settings.landing_dir)
    # the date format of each file read this run, as its write observed it (no second read of bronze)
    formats = sorted(((b["source"], f, fmt) for b in report.bronze for f, fmt in b.get("formats") or ()),
                     key=lambda t: (t[0], t[1], t[2] or ""))  # a format may be None (a file without dates)
    report.notes += format_notes(formats, settings.date_order)


def _silver(spark, settings: Settings, report: RunReport, say) -> None:
    from fitlake.silver.job import run_silver

    report.silver = run_silver(spark, settings, progress=lambda c: say("  silver  " + describe_silver(c)))
    from fitlake.silver.completeness import completeness_lines

    report.notes += completeness_lines(report.silver, settings.max_quarantine_share)


def _gold(spark, settings: Settings, report: RunReport, say) -> None:
    from fitlake.gold.job import run_gold

    report.gold = run_gold(spark, settings, progress=lambda c: say("  gold    " + describe_gold(c)))
    if not report.gold:
        say("  gold    silver unchanged since the last run: nothing to do")
    else:
        from fitlake.gold.job import completeness_notes

        report.notes += completeness_notes(spark, settings)


STAGES: list[Stage] = [Stage("ingest", _ingest), Stage("silver", _silver), Stage("gold", _gold)]


def describe_silver(c) -> str:
    if not c.batches:
        return f"silver.{c.table}: no new bronze rows"
    q = ", ".join(f"{r} {n}" for r, n in sorted(c.quarantined.items()))
    text = (f"silver.{c.table}: {c.rows_in} in -> {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged, "
            f"{c.duplicates} duplicates, {c.quarantined_total} quarantined")
    text += f" ({q})" if q else ""
    if not c.reconciles:
        text += " [RECONCILIATION MISMATCH]"
    return text + f" [{c.seconds:.1f} s]"


def describe_gold(c) -> str:
    return (f"gold.{c.table}: {c.inserted} inserted, {c.updated} updated, {c.deleted} deleted, {c.unchanged} unchanged "
            f"[{c.seconds:.1f} s]")


# ---- summary ---------------------------------------------------------------------------------------------------------
def summary_lines(report: RunReport) -> list[str]:
    lines = ["", "fitlake run summary", ""]
    header = f"{'table':<32}{'rows in':>10}{'inserted':>10}{'updated':>9}{'unchanged':>10}{'dups':>7}{'quarant.':>9}"
    if report.bronze:
        lines.append(f"{'bronze table':<32}{'files':>10}{'rows':>10}{'corrupt':>9}{'rescued':>10}")
        for b in report.bronze:
            lines.append(f"{b.get('table', ''):<32}{b.get('files') or 0:>10}{b.get('rows') or 0:>10}"
                         f"{b.get('corrupt_rows') or 0:>9}{b.get('rescued_rows') or 0:>10}")
        lines.append("")
        skipped: dict[tuple[str, str], list[str]] = {}  # a folder not walked is met by every source under it
        for b in report.bronze:
            for s in b.get("skipped") or []:
                skipped.setdefault((s["path"], s["detail"]), []).append(b.get("table", ""))
        if skipped:
            lines.append(f"landing entries not read ({len(skipped)}; the other files were ingested; fix these, rerun):")
            lines += [f"  {path}: {detail} ({tables[0] if len(tables) == 1 else f'{len(tables)} sources'})"
                      for (path, detail), tables in skipped.items()]
            lines.append("")
    active = [c for c in report.silver if c.batches]
    if report.silver and not active:
        lines += ["silver: no new bronze rows in any table", ""]
    if active:
        lines.append(header)
        for c in active:
            lines.append(f"{'silver.' + c.table:<32}{c.rows_in:>10}{c.inserted:>10}{c.updated:>9}{c.unchanged:>10}"
                         f"{c.duplicates:>7}{c.quarantined_total:>9}")
        quarantined = [(c.table, r, n) for c in active for r, n in sorted(c.quarantined.items())]
        if quarantined:
            lines += ["", "quarantined by rule (rows kept in quarantine.<table>, raw data stays in bronze):"]
            lines += [f"  quarantine.{t:<24}{r:<40}{n:>8}" for t, r, n in quarantined]
        bad = [c.table for c in report.silver if not c.reconciles]
        lines.append("")
        lines.append("reconciliation (rows in = inserted + updated + unchanged + duplicates + quarantined): "
                     + ("OK for every table" if not bad else "MISMATCH in " + ", ".join(bad)))
        lines.append("")
    if report.gold:
        lines.append(f"{'gold table':<32}{'inserted':>10}{'updated':>9}{'deleted':>9}{'unchanged':>10}")
        for g in report.gold:
            lines.append(f"{'gold.' + g.table:<32}{g.inserted:>10}{g.updated:>9}{g.deleted:>9}{g.unchanged:>10}")
        lines.append("")
    lines.append("time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items()))
    lines += report.notes
    return lines


def run_log_rows(report: RunReport, settings: Settings) -> list[dict]:
    base = {"run_id": report.run_id, "target": settings.target}
    rows = [{**base, "stage": "silver", "table_name": f"silver.{c.table}", "batches": c.batches, "rows_in": c.rows_in,
             "inserted": c.inserted, "updated": c.updated, "deleted": 0, "unchanged": c.unchanged,
             "duplicates": c.duplicates, "quarantined": c.quarantined_total,
             "quarantined_by_rule": json.dumps(c.quarantined, sort_keys=True), "seconds": round(c.seconds, 3)}
            for c in report.silver if c.batches]
    rows += [{**base, "stage": "gold", "table_name": f"gold.{g.table}", "batches": 1, "rows_in": g.affected_keys,
              "inserted": g.inserted, "updated": g.updated, "deleted": g.deleted, "unchanged": g.unchanged,
              "duplicates": 0, "quarantined": 0, "quarantined_by_rule": "{}", "seconds": round(g.seconds, 3)}
             for g in report.gold]
    rows += [{**base, "stage": s, "table_name": None, "batches": None, "rows_in": None, "inserted": None,
              "updated": None, "deleted": None, "unchanged": None, "duplicates": None, "quarantined": None,
              "quarantined_by_rule": None, "seconds": round(sec, 3)} for s, sec in report.stage_seconds.items()]
    return rows


RUN_LOG_SCHEMA = (
    "run_id STRING, target STRING, stage STRING, table_name STRING, batches BIGINT, rows_in BIGINT, inserted BIGINT, "
    "updated BIGINT, deleted BIGINT, unchanged BIGINT, duplicates BIGINT, quarantined BIGINT, "
    "quarantined_by_rule STRING, seconds DOUBLE"
)


def append_run_log(spark, settings: Settings, report: RunReport) -> None:
    """One row per table touched and per stage; a no-op run still logs its stage times."""
    from pyspark.sql import functions as F

    from fitlake import delta_io

    from fitlake.frames import local_frame

    df = local_frame(spark, run_log_rows(report, settings), RUN_LOG_SCHEMA)
    delta_io.write(df.withColumn("logged_at", F.current_timestamp()), settings.table("ops", "run_log"),
                   mode="append", mergeSchema="true")


# ---- landing, lock, main ---------------------------------------------------------------------------------------------
def landing_is_empty(landing: Path) -> bool:
    try:
        return not landing.is_dir() or not any(p for p in landing.iterdir() if not p.name.startswith("."))
    except OSError as e:  # e.g. a landing the user running fitlake may not list: one sentence, not a traceback
        raise PipelineError(f"the landing folder {landing} cannot be read ({e.strerror or e}): fix its permissions "
                            "(the user running fitlake must be able to list it and its folders), then rerun") from e


def ensure_landing(settings: Settings, generate: bool, say, explicit: bool = False) -> None:
    """Check the landing folder before ingest; generate synthetic data only when asked, only locally.

    ``generate``: the user asked for synthetic data (``fitlake run --generate``, what ``make run`` passes);
    ``explicit``: the landing folder was given (``--landing`` / ``$FITLAKE_LANDING``), never filled behind the
    user's back. On dev/prod an empty landing Volume is "no files yet" (Auto Loader reads with the full schema).
    """
    landing = settings.landing_dir
    empty = landing_is_empty(landing)
    if not settings.is_local:
        if generate:
            raise PipelineError(f"--generate writes synthetic data only on target local, never into {landing} "
                                f"(target {settings.target}); upload real files to the landing Volume instead")
        if empty:
            say(f"landing {landing} has no files yet: bronze ingests nothing")
        return
    if not empty:
        return
    if explicit:
        raise PipelineError(f"the landing folder {landing} you gave is empty or missing: put the export there, or "
                            "run `fitlake generate --out DIR` first (synthetic data is never generated into a given "
                            "--landing)")
    if not generate:
        raise PipelineError(f"the landing folder {landing} is empty or missing: put files there, pass --landing DIR, "
                            "or ask for synthetic data with `fitlake run --generate` (or `fitlake generate`)")
    try:
        from fitlake.generate import generate_landing
    except ImportError as e:
        raise PipelineError(f"the landing folder {landing} is empty and the generator is not available ({e}); "
                            "run `fitlake generate --out DIR` and pass --landing DIR") from e
    say(f"landing folder {landing} is empty and --generate was given: generating the default synthetic dataset")
    generate_landing(landing)


def job_lock(settings: Settings, timeout: float):
    """The run lock of this target: a file lock under ``root`` locally; none on dev/prod, where the job's
    ``max_concurrent_runs: 1`` is the lock and ``root`` is a Volume path nothing creates (no ``flock`` there)."""
    return run_lock(settings.root, timeout) if settings.is_local else nullcontext()


def run_lock(root: Path, timeout: float):
    """Exclusive per-lakehouse lock (``<root>/_run.lock``), so two runs never interleave their writes."""
    path = root / "_run.lock"
    return file_lock(path, timeout, lambda holder: PipelineError(
        f"another fitlake run holds {path} ({holder}); wait for it to finish or pass --lock-timeout SECONDS "
        "to wait for it"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    names = [s.name for s in STAGES]
    parser.add_argument("--stage", choices=[*names, "all"], default="all", help="run one stage (default: all)")
    parser.add_argument("--generate", action="store_true",
                        help="target local only: generate the default synthetic dataset when the default landing "
                             "folder (<root>/landing) is empty; a given --landing is never filled")
    parser.add_argument("--no-generate", action="store_true",
                        help="never generate synthetic data (the default; kept for scripts that pass it)")
    parser.add_argument("--date-order", choices=["month_first", "day_first"], default=None,
                        help="how to read the dates of a file whose own values do not say (every day 12 or less); "
                             "unset ($FITLAKE_DATE_ORDER): such rows are quarantined")
    parser.add_argument("--strict", action="store_true",
                        help="exit 3 when a silver table quarantined more than max_quarantine_share of its rows "
                             "($FITLAKE_MAX_QUARANTINE_SHARE, default 0.05); without it such a run says so and exits 0")
    parser.add_argument("--lock-timeout", type=float, default=0.0,
                        help="seconds to wait for another run on the same lakehouse (default 0: fail at once)")


def run_pipeline(spark, settings: Settings, stages: list[str] | None = None, say=print) -> RunReport:
    """Run ``stages`` (default all) in order and return what happened; the caller holds the lock."""
    report = RunReport(run_id=uuid.uuid4().hex[:12])
    for stage in STAGES:
        if stages and stage.name not in stages:
            continue
        say(f"[{stage.name}]")
        started = time.monotonic()
        stage.run(spark, settings, report, say)
        report.stage_seconds[stage.name] = time.monotonic() - started
        say(f"[{stage.name}] done in {report.stage_seconds[stage.name]:.1f} s")
    append_run_log(spark, settings, report)
    return report


def is_up_to_date(settings: Settings, stages: list[str] | None = None) -> bool:
    """Local lakehouses: would ``stages`` (default all) find nothing to do? Answered from the landing listing,
    the jobs' state files and the Delta logs alone, so a no-op ``fitlake run`` starts no JVM."""
    from fitlake.bronze.ingest import has_new_files
    from fitlake.bronze.sources import BATCH_SOURCES
    from fitlake.gold.job import is_current as gold_is_current
    from fitlake.silver.job import is_current as silver_is_current
    from fitlake.silver.specs import SPECS

    wanted = set(stages or [s.name for s in STAGES])
    if "ingest" in wanted and any(has_new_files(settings, n) for n in BATCH_SOURCES):
        return False
    if "silver" in wanted and not all(silver_is_current(settings, n) for n in SPECS):
        return False
    return "gold" not in wanted or gold_is_current(settings)


def input_bytes(settings: Settings, stages: list[str] | None = None) -> int:
    """Local lakehouses: how much ``stages`` would read, in bytes (new landing files; bronze data silver has not
    read and silver data gold has not read, sized by their rows: ``delta_log.ROW_BYTES`` a row, as their Parquet is
    2-20x smaller than the same rows in a CSV), from the landing listing, state files and Delta logs, without Spark."""
    from fitlake.bronze.ingest import new_bytes
    from fitlake.bronze.sources import BATCH_SOURCES
    from fitlake.gold.job import pending_bytes as gold_pending
    from fitlake.silver.job import pending_bytes as silver_pending
    from fitlake.silver.specs import SPECS

    wanted = set(stages or [s.name for s in STAGES])
    total = 0
    if "ingest" in wanted:
        total += sum(new_bytes(settings, n) or 0 for n in BATCH_SOURCES)
    if "silver" in wanted:
        total += sum(silver_pending(settings, n, by_rows=True) for n in SPECS)
    if "gold" in wanted:
        total += gold_pending(settings, by_rows=True)
    return total


def main(args) -> int:
    from fitlake.spark import get_spark, small_input_options

    settings = settings_from_args(args)
    stages = None if args.stage == "all" else [args.stage]
    say = lambda line: print(line, flush=True)  # noqa: E731
    started = time.monotonic()
    try:
        with job_lock(settings, args.lock_timeout):
            if stages is None or "ingest" in stages:
                explicit = bool(args.landing or os.environ.get("FITLAKE_LANDING"))
                ensure_landing(settings, args.generate and not args.no_generate, say, explicit=explicit)
            say(f"fitlake run: lakehouse {settings.root}, landing {settings.landing_dir}, target {settings.target}")
            if settings.is_local and is_up_to_date(settings, stages):
                say("nothing new: every landing file is ingested and silver and gold are up to date "
                    "(checked from the landing folder and the Delta logs, without starting Spark)")
                from fitlake.bronze.landing_report import landing_notes

                for line in landing_notes(settings.landing_dir):  # e.g. an export dropped straight into landing/
                    say(line)
                say(f"total {time.monotonic() - started:.1f} s")
                return 0
            t0 = time.monotonic()
            size = input_bytes(settings, stages) if settings.is_local else None
            conf, jit = small_input_options(settings, size)
            spark = get_spark(settings, app_name="fitlake-run", conf=conf, jit=jit)
            how = (f", plans interpreted and JIT at C1: {size / 2**20:.1f} MB of input is at most "
                   f"FITLAKE_INTERPRETED_MAX_BYTES ({settings.interpreted_max_bytes / 2**20:.0f} MB)" if conf else "")
            say(f"Spark ready in {time.monotonic() - t0:.1f} s{how}")
            report = run_pipeline(spark, settings, stages, say)
    except PipelineError as e:
        print(f"fitlake run: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a layer's own one-sentence error (e.g. BronzeIngestError); anything else re-raises
        if type(e).__name__ != "BronzeIngestError":
            raise
        print(f"fitlake run: {e}", file=sys.stderr)
        return 1
    for line in summary_lines(report):
        say(line)
    say(f"total {time.monotonic() - started:.1f} s (incl. Spark start)")
    mismatched = [c.table for c in report.silver if not c.reconciles]
    if mismatched:
        return 1
    from fitlake.silver.completeness import over_threshold

    return 3 if getattr(args, "strict", False) and over_threshold(report.silver, settings.max_quarantine_share) else 0
