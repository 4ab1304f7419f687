"""Gold says which inputs a row lacks; the run summary shows completeness per table and is loud above the
threshold (exit 0 unless --strict)."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from fitlake.gold import facts
from fitlake.silver.completeness import completeness_lines, over_threshold
from fitlake.silver.job import TableCounts


def test_hourly_fact_names_its_missing_inputs(spark):
    h7, h8, h9 = (dt.datetime(2016, 4, 12, h) for h in (7, 8, 9))
    steps = spark.createDataFrame([(1, h7, 100), (1, h8, None)], "user_id BIGINT, activity_hour TIMESTAMP, step_total INT")
    cals = spark.createDataFrame([(1, h7, 80), (1, h9, 70)], "user_id BIGINT, activity_hour TIMESTAMP, calories INT")
    ints = spark.createDataFrame([(1, h7, 3, 0.05)],
                                 "user_id BIGINT, activity_hour TIMESTAMP, total_intensity INT, average_intensity DOUBLE")
    got = facts.build_fact_hourly_activity(steps, cals, ints).select("activity_hour", "steps", "missing_inputs")
    want = spark.createDataFrame(
        [(h7, 100, None),  # complete
         (h8, None, "hourly_calories,hourly_intensities"),  # a steps row whose value is null still counts as present
         (h9, None, "hourly_steps,hourly_intensities")],
        "activity_hour TIMESTAMP, steps INT, missing_inputs STRING")
    assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def test_completeness_lines_and_the_loud_threshold():
    ok = TableCounts("daily_steps", batches=1, rows_in=100, inserted=99, quarantined={"step_total_in_range": 1})
    bad = TableCounts("weight_log", batches=1, rows_in=40, inserted=6,
                      quarantined={"log_id_scientific_notation_digits_lost": 34})
    lines = completeness_lines([ok, bad, TableCounts("sleep_day")], 0.05)
    assert lines[1].split() == ["silver.daily_steps", "99.0%", "(1", "of", "100", "quarantined)"]
    assert lines[2].split()[:2] == ["silver.weight_log", "15.0%"]
    assert lines[3].startswith("WARNING: silver.weight_log quarantined 85% of its rows (above max_quarantine_share 5%)"
                               ": log_id_scientific_notation_digits_lost 34")
    assert len(lines) == 4
    assert over_threshold([ok, bad], 0.05) == [bad] and over_threshold([ok, bad], 0.9) == []
    assert completeness_lines([TableCounts("x")], 0.05) == []


def test_strict_fails_the_run_only_above_the_threshold(tmp_path, monkeypatch, capsys):
    """`fitlake run` exit codes with the layers stubbed out (the counts are what the stages would report)."""
    import fitlake.pipeline as P
    import fitlake.spark

    landing = tmp_path / "lake" / "landing" / "fitbit" / "x"
    landing.mkdir(parents=True)
    (landing / "dailySteps_merged.csv").write_text("Id,ActivityDay,StepTotal\n")
    counts = [TableCounts("weight_log", batches=1, rows_in=10, inserted=5, quarantined={"log_id_parses_exactly": 5})]

    def fake_run(spark, settings, stages, say):
        report = P.RunReport(run_id="t", silver=counts)
        report.notes += completeness_lines(counts, settings.max_quarantine_share)
        return report

    monkeypatch.setattr(P, "run_pipeline", fake_run)
    monkeypatch.setattr(P, "is_up_to_date", lambda settings, stages=None: False)
    monkeypatch.setattr(fitlake.spark, "get_spark", lambda settings, app_name=None, conf=None, **_: None)
    parser = __import__("argparse").ArgumentParser()
    P.add_arguments(parser)
    args = ["--root", str(tmp_path / "lake")]
    assert P.main(parser.parse_args(args)) == 0
    assert "WARNING: silver.weight_log quarantined 50% of its rows" in capsys.readouterr().out
    assert P.main(parser.parse_args([*args, "--strict"])) == 3
    monkeypatch.setenv("FITLAKE_MAX_QUARANTINE_SHARE", "0.6")
    assert P.main(parser.parse_args([*args, "--strict"])) == 0
