"""The bad-input corpus (fixtures/bad/, 40+ kinds in one table: EXPECTED.json) through the real commands: nothing
crashes, hangs or exits with a traceback, every bad row is quarantined with the rule it broke (or corrected), every
landing entry not read is reported with what to do, no later good file is blocked, and counts reconcile: bronze
rows = silver + quarantine + removed duplicates.

All file kinds go into ONE landing folder (each under its own folder / file name and its own user ids): the
committed ones are copied, the ones git cannot hold (symbolic links, a FIFO, modes 000, a future mtime, a rewrite,
300 small files) are built there by ``build_corpus.TEST_TIME_KINDS``. The landing is made read-only and must come
out unchanged. ``fitlake run`` goes over it (bronze -> silver -> gold), then again after the files kinds deliver
later (a stale re-delivery, a rewrite, good files after a hostile one), then ``fitlake stream --available-now``
once; each through ``fitlake.cli.main`` in this process (exit code and printed output checked per kind). The
landing kinds that need a landing of their own (unreadable, mistyped) are one cheap run each, stopped before Spark.
The Kafka kind is fed, as a Kafka-shaped DataFrame, to the Kafka ingest's own foreachBatch handler (the broker
itself is exercised by the streaming suite).

Tests run as root, whom no file mode stops: ``as_if_not_root`` answers EACCES where the OS would for anyone else.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import stat
import time
import traceback
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e  # a whole pipeline run (or model training) per module: make test, not make test-fast

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad"
EXPECTED: dict = {k: v for k, v in json.loads((BAD / "EXPECTED.json").read_text()).items() if not k.startswith("_")}


def _load_builder():
    spec = importlib.util.spec_from_file_location("fitlake_bad_corpus", BAD / "build_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CORPUS = _load_builder()
COMMITTED = sorted(k for k, v in EXPECTED.items() if v.get("build") != "test_time")
TEST_TIME = sorted(k for k, v in EXPECTED.items() if v.get("build") == "test_time")
FILE_KINDS = sorted(k for k, v in EXPECTED.items() if v["stage"] in ("batch", "stream"))
BATCH_KINDS = sorted(k for k, v in EXPECTED.items() if v["stage"] == "batch")
STREAM_KINDS = sorted(k for k, v in EXPECTED.items() if v["stage"] == "stream")
OWN_RUN_KINDS = sorted(k for k, v in EXPECTED.items() if v.get("run") == "own")
# longest first, so e.g. a kind whose name contains another's is matched as itself
_BY_LENGTH = sorted(EXPECTED, key=len, reverse=True)


def kind_of(path: str | None) -> str | None:
    if not path or f"/{CORPUS.LATER_GOOD}/" in path:  # the later good files are checked by user id, not counted
        return None
    return next((k for k in _BY_LENGTH if k in path), None)


def skipped_of(kind: str) -> list[dict]:
    want = EXPECTED[kind].get("skipped") or []
    return [want] if isinstance(want, dict) else list(want)


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


def run_cli(argv: list[str]) -> dict:
    """A ``fitlake`` command as a person runs it (``fitlake.cli.main``, in this process so it reuses the session's
    Spark): its exit code, everything it printed, and the run's report / stream summary (for the counts)."""
    from fitlake import cli, pipeline
    from fitlake.streaming import job as stream_job

    started = time.monotonic()
    out, reports, summaries = io.StringIO(), [], []
    real_run, real_stream = pipeline.run_pipeline, stream_job.run_stream
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}  # `fitlake stream` sets them

    def spy_run(*args, **kwargs):
        reports.append(real_run(*args, **kwargs))
        return reports[-1]

    def spy_stream(*args, **kwargs):
        summaries.append(real_stream(*args, **kwargs))
        return summaries[-1]

    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        mp.setattr(pipeline, "run_pipeline", spy_run)
        mp.setattr(stream_job, "run_stream", spy_stream)
        try:
            code = cli.main(argv)
        except BaseException:  # what a person would see as a traceback: keep it, the tests report it
            traceback.print_exc(file=out)
            code = None
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    return {"argv": argv, "code": code, "text": out.getvalue(), "report": reports[-1] if reports else None,
            "stream": summaries[-1] if summaries else None, "seconds": round(time.monotonic() - started, 1)}


def run_batch(settings) -> dict:
    return run_cli(["run", "--root", str(settings.root), "--landing", str(settings.landing_dir), "--no-generate"])


def run_stream_cli(settings) -> dict:
    return run_cli(["stream", "--available-now", "--root", str(settings.root), "--landing", str(settings.landing_dir)])


@contextlib.contextmanager
def as_if_not_root(base: Path):
    """Tests run as root, whom no file mode stops. Under ``base``, answer as the OS answers any other user: listing
    a folder without read permission, or anything below a folder without search permission, and opening a file
    without read permission fail with EACCES (the modes themselves are real: chmod 000). Only ``os.scandir``,
    ``os.listdir`` and ``os.open`` are wrapped, the calls fitlake lists and opens landing files with."""
    if os.geteuid() != 0:
        yield
        return
    base_s = os.path.realpath(base)
    real_scandir, real_listdir, real_open = os.scandir, os.listdir, os.open

    def denied(path, need_read: bool) -> bool:
        if isinstance(path, int):
            return False
        p = os.path.abspath(os.fsdecode(path))
        if p != base_s and not p.startswith(base_s + os.sep):
            return False
        try:
            parent = os.path.dirname(p)
            while parent.startswith(base_s):
                if not os.stat(parent).st_mode & 0o111:
                    return True
                parent = os.path.dirname(parent)
            return need_read and not os.stat(p).st_mode & 0o444
        except OSError:
            return False

    def refuse(path):
        raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def scandir(path="."):
        return refuse(path) if denied(path, True) else real_scandir(path)

    def listdir(path="."):
        return refuse(path) if denied(path, True) else real_listdir(path)

    def open_(path, flags, mode=0o777, *, dir_fd=None):
        reading = flags & os.O_ACCMODE in (os.O_RDONLY, os.O_RDWR)
        if dir_fd is None and denied(path, reading):
            refuse(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "scandir", scandir)
        mp.setattr(os, "listdir", listdir)
        mp.setattr(os, "open", open_)
        yield


def snapshot(landing: Path) -> dict[str, tuple]:
    """Every entry under the landing (links not followed): type, size, modification time."""
    out = {}
    for folder, dirs, names in os.walk(landing):
        for name in dirs + names:
            st = os.lstat(Path(folder, name))
            out[str(Path(folder, name).relative_to(landing))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


def set_read_only(landing: Path, read_only: bool, modes: dict) -> None:
    """chmod a-w everything in the landing (or put the modes back); links are left alone (chmod follows them)."""
    paths = [landing] + [Path(f, n) for f, dirs, names in os.walk(landing) for n in dirs + names]
    for path in paths:
        if path.is_symlink():
            continue
        if read_only:
            modes[path] = os.lstat(path).st_mode & 0o7777
            os.chmod(path, modes[path] & ~0o222)
        elif path in modes:
            os.chmod(path, modes.pop(path))


def later_good_files() -> dict[tuple[str, str], tuple[str, bytes, int]]:
    """(kind, table) -> (path, bytes, user id) of the good file the later run delivers to every table a kind feeds."""
    return {(kind, table): (*CORPUS.later_good_file(kind, i, table), CORPUS.later_good_user(i, table))
            for i, kind in enumerate(FILE_KINDS) for table in EXPECTED[kind]["tables"]}


def deliver(landing: Path, scratch: Path, later: bool) -> None:
    """The committed kinds' files (first delivery, or the ones EXPECTED delivers later) and the test-time kinds';
    later, also one good file for every table each kind feeds."""
    if later:
        for rel, data, _ in later_good_files().values():
            (landing / rel).parent.mkdir(parents=True, exist_ok=True)
            (landing / rel).write_bytes(data)
    for kind in FILE_KINDS:
        if kind in TEST_TIME:
            first, then = CORPUS.TEST_TIME_KINDS[kind]
            step = then if later else first
            if step is not None:
                step(landing, scratch / kind)
            continue
        later_files = EXPECTED[kind].get("later", [])
        if not later:
            shutil.copytree(BAD / kind, landing, dirs_exist_ok=True, ignore=_first_delivery(kind))
            continue
        for rel in later_files:
            (landing / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(BAD / kind / rel, landing / rel)


def own_runs(base: Path) -> dict[str, list[dict]]:
    """The landing kinds that need a landing of their own: each is one cheap ``fitlake run`` (stopped before Spark)."""
    from fitlake.config import Settings

    out: dict[str, list[dict]] = {}
    locked = base / "unreadable landing" / "landing"
    CORPUS.TEST_TIME_KINDS["dangling_symlink"][0](locked, base / "unreadable landing" / "scratch")  # a good file
    before = snapshot(locked)
    os.chmod(locked, 0)
    try:
        with as_if_not_root(base):
            out["unreadable_landing"] = [run_batch(Settings(root=base / "unreadable landing" / "lake",
                                                            landing=locked))]
    finally:
        os.chmod(locked, 0o755)
    out["unreadable_landing"][0]["landing_changed"] = snapshot(locked) != before
    runs = []
    for landing in (base / "mistyped" / "no such folder", base / "mistyped" / "empty folder"):
        if landing.name == "empty folder":
            landing.mkdir(parents=True)
        run = run_batch(Settings(root=base / "mistyped" / "lake", landing=landing))
        run["landing_changed"] = landing.exists() and any(landing.iterdir()) or (
            landing.name == "no such folder" and landing.exists())
        runs.append(run)
    out["mistyped_landing"] = runs
    return out


@pytest.fixture(scope="module")
def bad_lake(spark, tmp_path_factory):
    """One landing with every file kind (committed and built at test time), made read-only; ``fitlake run`` over
    it, then again after the kinds' later deliveries, then one ``fitlake stream --available-now``. The landing
    kinds that need a landing of their own run first (no Spark)."""
    from fitlake.config import Settings
    from fitlake.silver.job import TableCounts

    base = tmp_path_factory.mktemp("bad")
    scratch = base / "outside the landing"
    landing = base / "landing"
    own = own_runs(base / "own")
    # the lakehouse root itself is hostile too: spaces, quotes and unicode in every LOCATION and path
    settings = Settings(root=base / "lake 'q' \"dq\" \u00fc", landing=landing)
    forget_catalog(spark)
    deliver(landing, scratch, later=False)
    runs, streams, unchanged, modes = [], [], [], {}
    for later in (False, True):
        if later:
            deliver(landing, scratch, later=True)
        set_read_only(landing, True, modes)
        before = snapshot(landing)
        try:
            with as_if_not_root(base):
                runs.append(run_batch(settings))
                if later:  # one stream run over every event file (its watermark is in what it prints)
                    streams.append(run_stream_cli(settings))
        finally:
            set_read_only(landing, False, modes)
        unchanged.append(snapshot(landing) == before)
    reports = [r["report"] for r in runs if r["report"] is not None]
    silver: dict[str, TableCounts] = {}
    for report in reports:
        for c in report.silver:
            silver.setdefault(c.table, TableCounts(c.table)).add(c)
    text = "\n".join(r["text"] for r in runs)
    (base / "runs.log").write_text("\n\n".join(f"$ fitlake {' '.join(r['argv'])}  # {r['seconds']} s\n{r['text']}"
                                              for r in [*runs, *streams, *(r for v in own.values() for r in v)]))
    yield {"settings": settings, "runs": runs, "streams": streams, "own": own, "landing_unchanged": unchanged,
           "text": text, "messages": text.splitlines(), "bronze": [b for r in reports for b in r.bronze],
           "silver": list(silver.values()), "gold": [g for r in reports for g in r.gold]}
    for folder, dirs, _ in os.walk(base):  # the unreadable kinds' modes, so the tmp folder can be removed
        for d in dirs:
            os.chmod(Path(folder, d), 0o755)


def layer_counts(settings, layer: str, table: str) -> tuple[Counter, pd.DataFrame]:
    df = read_delta(Path(settings.root) / layer / table)
    if df.empty:
        return Counter(), df
    df = df.assign(_kind=df["_source_file"].map(kind_of))
    return Counter(df["_kind"].dropna()), df


def test_corpus_has_at_least_40_kinds_committed_or_built_at_test_time():
    """One table (EXPECTED.json) for every kind: committed kinds have a folder, test-time kinds a builder."""
    kinds_on_disk = {p.name for p in BAD.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert set(COMMITTED) == kinds_on_disk
    assert {k for k in TEST_TIME if EXPECTED[k]["stage"] != "landing"} == set(CORPUS.TEST_TIME_KINDS)
    assert len(EXPECTED) >= 40, len(EXPECTED)


def test_the_runs_exit_cleanly_without_a_traceback(bad_lake):
    for run in bad_lake["runs"] + bad_lake["streams"]:
        assert run["code"] == 0, run["text"][-3000:]
        assert "Traceback" not in run["text"], run["text"][-3000:]
        assert "RECONCILIATION MISMATCH" not in run["text"]


def runs_of(bad_lake, kind: str) -> list[dict]:
    exp = EXPECTED[kind]
    if exp.get("run") == "own":
        return bad_lake["own"][kind]
    if exp["stage"] == "stream":
        return bad_lake["streams"]
    if exp["stage"] == "landing":
        return bad_lake["runs"] + bad_lake["streams"]
    return bad_lake["runs"]


def table_counts(settings, kind: str, table: str) -> dict:
    exp = EXPECTED[kind]["tables"][table]
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
    return got


@pytest.mark.parametrize("kind", sorted(k for k in EXPECTED if EXPECTED[k]["stage"] != "kafka"))
def test_kind(bad_lake, kind):
    """Per kind, through the runs it goes through: the exit code, no traceback, what the person sees (each table it
    feeds reported, each rule it breaks with its count, each entry not read with what to do, its own messages), and
    its rows: bronze = silver + quarantine + duplicates, as EXPECTED.json says."""
    exp, settings = EXPECTED[kind], bad_lake["settings"]
    runs = runs_of(bad_lake, kind)
    text = "\n".join(r["text"] for r in runs)
    assert [r["code"] for r in runs] == [exp.get("exit_code", 0)] * len(runs), text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "An error occurred while calling" not in text  # Py4J's wrapper names an object, not the problem
    for table, t in exp["tables"].items():
        if exp["stage"] == "batch" and t["bronze"]:
            assert re.search(rf"silver\.{table}: \d+ in -> ", text), f"{kind}: silver.{table} not reported"
        for rule in t.get("rules", {}):
            said = (rf"quarantine\.{table}\s+{rule}\s+\d+" if exp["stage"] == "batch"
                    else rf"quarantined: .*\b{rule}: \d+")
            assert re.search(said, text), f"{kind}: {table} {rule} not reported"
    for pattern in exp.get("messages", []):
        assert re.search(pattern, text), f"{kind}: {pattern!r} not in the output"
    for want in skipped_of(kind):
        for run in runs:  # reported by every run that meets it, with what to do
            reported = {(s["path"], s["reason"]) for b in run["report"].bronze for s in b.get("skipped") or []
                        if kind in s["path"]}
            assert reported == {(want["path"], want["reason"])}, f"{kind}: {reported}"
            assert want["message"] in run["text"], f"{kind}: {want['message']!r} not said"
            summary = re.findall(rf"^  {re.escape(want['path'])}: ", run["text"], re.M)
            assert len(summary) == 1, f"{kind}: listed {len(summary)} times in the run summary"
    for table, t in exp["tables"].items():
        got = table_counts(settings, kind, table)
        want = {layer: t[layer] for layer in ("bronze", "silver", "quarantine")}
        assert got == want, f"{kind}/{table}: {exp['what']}"
        assert got["bronze"] - got["silver"] - got["quarantine"] == t["duplicates"]
    for table in exp["tables"] if kind in FILE_KINDS else ():  # no kind blocks a later good file of its tables
        _, _, user = later_good_files()[(kind, table)]
        silver = read_delta(Path(settings.root) / "silver" / table)
        assert user in set(silver.get("user_id", ())), f"{kind}: the later good file of {table} is not in silver"
    if "windows" in exp:
        windows = read_delta(Path(settings.root) / "gold" / "event_windows")
        mine = windows[windows["user_id"] == exp["windows"]["user_id"]]
        assert sorted(w.strftime("%Y-%m-%d %H:%M:%S") for w in mine["window_start"]) == exp["windows"]["starts"]
    for table, n in exp.get("batches", {}).items():  # e.g. 300 one-row files: one Spark read, not 300
        first = runs[0]["report"].bronze
        assert [b["batches"] for b in first if b["source"] == table] == [n], f"{kind}: {table} batches"
    if exp.get("secret_never_read"):
        for table in (p.name for p in (Path(settings.root) / "bronze").iterdir()):
            df = read_delta(Path(settings.root) / "bronze" / table)
            cells = df.astype(str).to_numpy().ravel() if not df.empty else []
            assert not any("root:x:0:0" in c for c in cells), f"a file outside the landing was read into {table}"
    if kind == "read_only_landing":
        assert bad_lake["landing_unchanged"] == [True, True], "fitlake wrote inside the (read-only) landing"
    if exp.get("run") == "own":
        assert not any(r["landing_changed"] for r in runs), f"{kind}: something was written into the landing"
        assert all(r["report"] is None for r in runs), f"{kind}: the run went on to Spark"


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
