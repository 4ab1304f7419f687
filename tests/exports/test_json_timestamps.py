"""Issue 19, "same rule for the live event and activity JSON timestamps": a JSON timestamp is read only when its
text decides it on its own (ISO 8601: year first, and for events a zone), never guessed. The forms a spreadsheet or
a hand-edited export produce (month-first, day-first, 24-hour without seconds, no zone, epoch numbers, impossible
days) are quarantined with the rule that names the form, never read as another valid time."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from fitlake.silver.parsing import parse
from fitlake.streaming.transforms import split_valid_events, to_silver_events, with_event_rule

RAW = ("event_id string, user_id string, event_time string, steps string, heart_rate string, calories string, "
       "activity_type string, _corrupt_record string")
NOW = "2016-05-01 00:00:00"  # the batch's pinned processing time (UTC)
NOT_ISO = "event_time_not_iso8601"


def test_event_times_are_read_only_from_unambiguous_iso_text(spark):
    cases = [
        ("2016-04-12T08:00:00Z", None),
        ("2016-04-12T10:00:00+02:00", None),  # the same instant, another zone
        ("2016-04-12T08:00:00.250Z", None),
        ("04/12/2016 08:00:00 AM", NOT_ISO),  # Fitbit's CSV form: month-first
        ("12/04/2016 08:00", NOT_ISO),  # a day-first, 24-hour re-save
        ("4/12/2016 8:00", NOT_ISO),
        ("2016-04-12 08:00:00", NOT_ISO),  # no zone: which instant is undecided
        ("2016-04-12T08:00:00", NOT_ISO),
        ("2016-04-12", NOT_ISO),
        ("1460448000000", NOT_ISO),  # epoch milliseconds: not a form the events use
        ("2016-04-31T08:00:00Z", NOT_ISO),  # no 31 April: not rolled over to 1 May
        ("2016-13-04T08:00:00Z", NOT_ISO),  # no month 13: not read day-first
        ("12/04/2016 08:00:00 AM", NOT_ISO),
    ]
    df = spark.createDataFrame([(f"e{i}", "1503960366", t, "10", None, None, "walking", None)
                                for i, (t, _) in enumerate(cases)], RAW)
    rules = {r["event_id"]: r["_rule"] for r in with_event_rule(df, F.lit(NOW).cast("timestamp")).collect()}
    assert [rules[f"e{i}"] for i in range(len(cases))] == [rule for _, rule in cases]
    valid, _ = split_valid_events(df, F.lit(NOW).cast("timestamp"))
    typed = (valid.withColumn("_source_file", F.lit("f")).withColumn("_line", F.lit(1))
             .withColumn("_ingested_at", F.current_timestamp()).transform(to_silver_events("file"))
             .select("event_id", F.date_format("event_time", "yyyy-MM-dd HH:mm:ss.SSS").alias("t")))  # session: UTC
    assert sorted((r["event_id"], r["t"]) for r in typed.collect()) == [
        ("e0", "2016-04-12 08:00:00.000"), ("e1", "2016-04-12 08:00:00.000"), ("e2", "2016-04-12 08:00:00.250")]


def test_activity_json_dates_are_read_only_year_first(spark):
    texts = ["2016-04-12", " 2016-04-12 ", "04/12/2016", "12/04/2016", "2016-4-12", "2016-04-31", "2016-13-04",
             "20160412", "12-04-2016", None]
    df = spark.createDataFrame([(t,) for t in texts], "t string")
    got = [r["d"] for r in df.select(parse("t", "iso_date").alias("d")).collect()]
    assert got == [dt.date(2016, 4, 12), dt.date(2016, 4, 12)] + [None] * (len(texts) - 2), got
