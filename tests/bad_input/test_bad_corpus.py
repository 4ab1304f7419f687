"""The bad-input corpus (fixtures/bad/) through the real jobs: nothing crashes, every bad row is quarantined with
the rule it broke (or corrected), and counts reconcile: bronze rows = silver + quarantine + removed duplicates.

All batch kinds are copied into ONE landing folder (each under its own folder / file name and its own user ids)
and go through ``fitlake run`` (bronze -> silver -> gold, its exit code and printed output checked per kind), then
a second ``fitlake run`` after the files a kind delivers later (EXPECTED "later": e.g. a stale re-delivery after a
correction); the live-event kind goes through one available-now run of the
streaming job over the same landing; the Kafka kind is fed, as a Kafka-shaped DataFrame, to the Kafka ingest's
own foreachBatch handler (the broker itself is exercised by the streaming suite).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import traceback
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad"
EXPECTED: dict = {k: v for k, v in json.loads((BAD / "EXPECTED.json").read_text()).items() if not k.startswith("_")}
FILE_KINDS = sorted(k for k, v in EXPECTED.items() if v["stage"] in ("batch", "stream"))
# longest first, so e.g. a kind whose name contains another's is matched as itself
_BY_LENGTH = sorted(EXPECTED, key=len, reverse=True)


def kind_of(path: str | None) -> str | None:
    if not path:
        return None
    return next((k for k in _BY_LENGTH if k in path), None)


def read_delta(path: Path) -> pd.DataFrame:
    from deltalake import DeltaTable

    if not (path / "_delta_log").is_dir():
        return pd.DataFrame()
    return DeltaTable(str(path)).to_pandas()


def forget_catalog(spark) -> None:
    """Drop the session catalog's entries (metadata only: every table is external, the Delta folders stay).

    The pytest session is shared by tests with different lakehouse roots, and ``CREATE TABLE IF NOT EXISTS
    gold.x LOCATION ...`` keeps pointing at the first root that registered ``gold.x``."""
    for db in ("bronze", "silver", "quarantine", "gold", "ops"):
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")


def _first_delivery(kind: str):
    """copytree ignore: the files of ``kind`` that EXPECTED delivers only in the later run."""
    later = {str(BAD / kind / rel) for rel in EXPECTED[kind].get("later", [])}
    return lambda folder, names: [n for n in names if str(Path(folder) / n) in later]


def run_cli(settings) -> dict:
    """``fitlake run`` as a person runs it (``fitlake.cli.main``, in this process so it reuses the session's Spark):
    its exit code, everything it printed, and the run's report (for the counts)."""
    from fitlake import cli, pipeline

    out, reports = io.StringIO(), []
    real = pipeline.run_pipeline

    def spy(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        mp.setattr(pipeline, "run_pipeline", spy)
        try:
            code = cli.main(["run", "--root", str(settings.root), "--landing", str(settings.landing_dir),
                             "--no-generate"])
        except BaseException:  # what a person would see as a traceback: keep it, the tests report it
            traceback.print_exc(file=out)
            code = None
    return {"code": code, "text": out.getvalue(), "report": reports[-1] if reports else None}


@pytest.fixture(scope="module")
def bad_lake(spark, tmp_path_factory):
    """One landing with every file kind; ``fitlake run`` over it, then again after the kinds' later deliveries;
    then one available-now stream run."""
    from fitlake.config import Settings
    from fitlake.silver.job import TableCounts
    from fitlake.streaming.job import StreamOptions, run_stream

    base = tmp_path_factory.mktemp("bad")
    landing = base / "landing"
    for kind in FILE_KINDS:
        shutil.copytree(BAD / kind, landing, dirs_exist_ok=True, ignore=_first_delivery(kind))
    settings = Settings(root=base / "lake", landing=landing)
    forget_catalog(spark)
    runs = [run_cli(settings)]
    for kind in FILE_KINDS:
        for rel in EXPECTED[kind].get("later", []):
            (landing / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(BAD / kind / rel, landing / rel)
    runs.append(run_cli(settings))
    reports = [r["report"] for r in runs if r["report"] is not None]
    silver: dict[str, TableCounts] = {}
    for report in reports:
        for c in report.silver:
            silver.setdefault(c.table, TableCounts(c.table)).add(c)
    text = "\n".join(r["text"] for r in runs)
    stream = run_stream(spark, settings, StreamOptions(available_now=True))
    return {"settings": settings, "runs": runs, "text": text, "messages": text.splitlines(),
            "bronze": [b for r in reports for b in r.bronze], "silver": list(silver.values()),
            "gold": [g for r in reports for g in r.gold], "stream": stream}


def layer_counts(settings, layer: str, table: str) -> tuple[Counter, pd.DataFrame]:
    df = read_delta(Path(settings.root) / layer / table)
    if df.empty:
        return Counter(), df
    df = df.assign(_kind=df["_source_file"].map(kind_of))
    return Counter(df["_kind"].dropna()), df


def test_corpus_covers_at_least_24_kinds():
    kinds_on_disk = {p.name for p in BAD.iterdir() if p.is_dir()}
    assert set(EXPECTED) == kinds_on_disk
    assert len(EXPECTED) >= 24


def test_the_runs_exit_cleanly_without_a_traceback(bad_lake):
    for run in bad_lake["runs"]:
        assert run["code"] == 0, run["text"][-3000:]
        assert "Traceback" not in run["text"], run["text"][-3000:]
        assert "RECONCILIATION MISMATCH" not in run["text"]


BATCH_KINDS = sorted(k for k, v in EXPECTED.items() if v["stage"] == "batch")


@pytest.mark.parametrize("kind", BATCH_KINDS)
def test_kind_exit_code_and_what_the_person_sees(bad_lake, kind):
    """The exit code the kind expects, no traceback, and its outcome said in the output: each table it feeds is
    reported, each rule it breaks is listed under 'quarantined by rule', plus the kind's own messages."""
    exp = EXPECTED[kind]
    text = bad_lake["text"]
    assert [r["code"] for r in bad_lake["runs"]] == [exp.get("exit_code", 0)] * len(bad_lake["runs"])
    assert "Traceback" not in text
    for table, t in exp["tables"].items():
        if t["bronze"]:
            assert re.search(rf"silver\.{table}: \d+ in -> ", text), f"{kind}: silver.{table} not reported"
        for rule in t.get("rules", {}):
            assert re.search(rf"quarantine\.{table}\s+{rule}\s+\d+", text), f"{kind}: {table} {rule} not reported"
    for pattern in exp.get("messages", []):
        assert re.search(pattern, text), f"{kind}: {pattern!r} not in the output"


def test_bronze_names_the_bad_lines_to_the_user(bad_lake):
    text = "\n".join(bad_lake["messages"])
    assert "unparseable lines kept in _corrupt_record" in text
    assert all(not r.get("error") for r in bad_lake["bronze"])


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_kind_lands_where_expected(bad_lake, kind):
    settings = bad_lake["settings"]
    for table, exp in EXPECTED[kind]["tables"].items():
        got = {}
        for layer in ("bronze", "silver", "quarantine"):
            counts, df = layer_counts(settings, layer, table)
            got[layer] = counts.get(kind, 0)
            if layer == "quarantine" and "rules" in exp:
                rules = Counter(df.loc[df["_kind"] == kind, "_rule"]) if not df.empty else Counter()
                assert dict(rules) == exp["rules"], f"{kind} quarantine.{table} rules"
            if layer == "bronze" and "extra_field" in exp:
                mine = df[df["_kind"] == kind]
                kept = exp["extra_field"] in df.columns and mine[exp["extra_field"]].notna().all()
                rescued = mine["_rescued_data"].fillna("").str.contains(exp["extra_field"]).all()
                assert len(mine) and (kept or rescued), f"{kind}: {exp['extra_field']} lost in bronze.{table}"
        wanted = {layer: exp[layer] for layer in ("bronze", "silver", "quarantine")}
        assert got == wanted, f"{kind} / {table}: {EXPECTED[kind]['what']}"
        assert got["bronze"] - got["silver"] - got["quarantine"] == exp["duplicates"]


def test_corrections_win(bad_lake):
    settings = bad_lake["settings"]
    for kind in FILE_KINDS:
        for fix in EXPECTED[kind].get("corrected", []):
            df = read_delta(Path(settings.root) / "silver" / fix["table"])
            rows = df[df["user_id"] == fix["user_id"]]
            assert len(rows) == 1, f"{kind}: one silver row for user {fix['user_id']}"
            assert rows.iloc[0][fix["column"]] == fix["value"]


def test_silver_counts_reconcile(bad_lake):
    """The job's own per-table accounting: every bronze row is inserted, updated, unchanged, a duplicate or
    quarantined — and it matches what is in the tables."""
    settings = bad_lake["settings"]
    for c in bad_lake["silver"]:
        assert c.reconciles, c
        bronze = read_delta(Path(settings.root) / "bronze" / c.table)
        silver = read_delta(Path(settings.root) / "silver" / c.table)
        quarantine = read_delta(Path(settings.root) / "quarantine" / c.table)
        assert c.rows_in == len(bronze)
        assert c.quarantined_total == len(quarantine)
        assert len(silver) == c.inserted
        assert len(bronze) == len(silver) + len(quarantine) + c.duplicates + c.updated + c.unchanged


def test_nothing_bad_reaches_gold(bad_lake):
    settings = bad_lake["settings"]
    fact = read_delta(Path(settings.root) / "gold" / "fact_daily_activity")
    silver_users = set(read_delta(Path(settings.root) / "silver" / "activity")["user_id"]) | set(
        read_delta(Path(settings.root) / "silver" / "daily_activity")["user_id"]
    )
    assert set(fact["user_id"]) == silver_users
    assert fact["date"].max() < pd.Timestamp("2099-01-01").date()


def test_kafka_messages_that_are_not_json_are_quarantined(spark, settings):
    """The Kafka ingest's foreachBatch handler on a Kafka-shaped batch (key/value BINARY + coordinates)."""
    import datetime as dt

    from fitlake.streaming.job import WATERMARK, StreamBatch, ensure_stream_tables
    from fitlake.streaming.state import StreamState

    messages = [bytes.fromhex(json.loads(line)["value_hex"])
                for line in (BAD / "kafka_not_json" / "messages.jsonl").read_text().splitlines()]
    ts = dt.datetime(2023, 4, 1, 8, 0, tzinfo=dt.timezone.utc)
    batch = spark.createDataFrame(
        [(None, m, "fitbit_wellness_stream", 0, i, ts, 0) for i, m in enumerate(messages)],
        "key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT, timestamp TIMESTAMP, timestampType INT",
    )
    tables = ensure_stream_tables(spark, settings, "kafka", batch)  # source_df: only the files source reads it
    state = StreamState(settings.checkpoint("streaming", "bad-input-test"), WATERMARK)
    StreamBatch(spark, tables, "kafka", "bad-input-test", state, settings.step_goal)(batch, 0)
    StreamBatch(spark, tables, "kafka", "bad-input-test", state, settings.step_goal)(batch, 0)  # a replay adds nothing
    exp = EXPECTED["kafka_not_json"]["tables"]["events_kafka"]
    # read with Spark: the binary message is kept as a STRING holding invalid UTF-8, which delta-rs/Arrow refuse
    bronze, silver, quarantine = (spark.read.format("delta").load(t.path)
                                  for t in (tables.bronze, tables.silver, tables.quarantine))
    assert (bronze.count(), silver.count(), quarantine.count()) == (exp["bronze"], exp["silver"], exp["quarantine"])
    assert {r["_rule"]: r["count"] for r in quarantine.groupBy("_rule").count().collect()} == exp["rules"]


@pytest.mark.parametrize("kind", sorted(k for k, v in EXPECTED.items() if "skipped" in v))
def test_landing_entries_not_read_are_reported(bad_lake, kind):
    """A landing entry bronze does not read (hidden folder, ...) is named to the user with what to do."""
    want = EXPECTED[kind]["skipped"]
    reported = [s for r in bad_lake["bronze"] for s in r.get("skipped") or [] if kind in s["path"]]
    # reported by every run that meets it (the corpus runs twice: the second brings the later deliveries)
    assert sorted({(s["path"], s["reason"]) for s in reported}) == [(want["path"], want["reason"])]
    assert want["message"] in "\n".join(bad_lake["messages"])
