"""Done-when of issue 19, end to end on a corpus built at test time from the shared real export (3 users, 5 files):
each spreadsheet damage alone and all at once give the untouched export's silver for every row whose values
survived; rows whose values did not survive are quarantined with a reason naming the damage; a file whose date
order cannot be decided is quarantined naming the setting; the rest of a full export reaches bronze; misplaced
files are reported; gold.data_completeness and the KPI rows name the inputs of a day that were missing or quarantined.
One ``fitlake run`` (ingest + silver + gold) over every variant side by side."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from export_damage import FILES, OFFSET, VARIANTS, build_landing

from fitlake import delta_io
from fitlake.config import Settings
from fitlake.pipeline import run_pipeline
from fitlake.silver.specs import SPECS

pytestmark = pytest.mark.e2e  # a whole pipeline run (or model training) per module: make test, not make test-fast

TABLE_OF = {"dailyActivity": "daily_activity", "dailySteps": "daily_steps", "hourlyIntensities": "hourly_intensities",
            "sleepDay": "sleep_day", "weightLogInfo": "weight_log"}
LOST = {  # (variant, file) -> the reason its rows must carry: their key's digits are gone
    ("scientific_ids", "weightLogInfo"): "log_id_scientific_notation_digits_lost",
    ("scientific_ids", "dailySteps"): "user_id_scientific_notation_digits_lost",
    ("all_at_once", "weightLogInfo"): "log_id_scientific_notation_digits_lost",
    ("ambiguous", "hourlyIntensities"): "activity_hour_date_order_undecided_set_date_order",
}
MINUTE_FILES = {  # the rest of a full export: tiny files of the real layout
    "minuteCaloriesNarrow": "Id,ActivityMinute,Calories\r\n1503960366,4/13/2016 12:00:00 AM,0.7865\r\n",
    "minuteIntensitiesNarrow": "Id,ActivityMinute,Intensity\r\n1503960366,4/13/2016 12:00:00 AM,0\r\n",
    "minuteMETsNarrow": "Id,ActivityMinute,METs\r\n1503960366,4/13/2016 12:00:00 AM,10\r\n",
    "minuteStepsNarrow": "Id,ActivityMinute,Steps\r\n1503960366,4/13/2016 12:00:00 AM,0\r\n",
    "minuteSleep": "Id,date,value,logId\r\n1503960366,4/13/2016 2:47:30 AM,3,11380564589\r\n",
    "heartrate_seconds": "Id,Time,Value\r\n2022484408,4/13/2016 7:21:00 AM,97\r\n",
    **{f"minute{m}Wide": "Id,ActivityHour," + ",".join(f"{m}{i:02d}" for i in range(60)) + "\r\n"
       + "1503960366,4/13/2016 12:00:00 AM," + ",".join("1" for _ in range(60)) + "\r\n"
       for m in ("Calories", "Intensities", "Steps")},
}

PARTIAL_USER = 5550000001  # fitbit/partial/: one day with no sleep log and one hourly intensity out of range
_HOURS = [f"4/20/2016 {h % 12 or 12}:00:00 {'AM' if h < 12 else 'PM'}" for h in range(24)]
PARTIAL_FILES = {
    "dailyActivity": "Id,ActivityDate,TotalSteps,TotalDistance,TrackerDistance,LoggedActivitiesDistance,"
    "VeryActiveDistance,ModeratelyActiveDistance,LightActiveDistance,SedentaryActiveDistance,VeryActiveMinutes,"
    f"FairlyActiveMinutes,LightlyActiveMinutes,SedentaryMinutes,Calories\r\n{PARTIAL_USER},4/20/2016,2400,1.7,1.7,0,"
    "0.5,0.2,1,0,20,10,200,900,2000\r\n",
    "hourlySteps": "Id,ActivityHour,StepTotal\r\n" + "".join(f"{PARTIAL_USER},{h},100\r\n" for h in _HOURS),
    "hourlyCalories": "Id,ActivityHour,Calories\r\n" + "".join(f"{PARTIAL_USER},{h},80\r\n" for h in _HOURS),
    "hourlyIntensities": "Id,ActivityHour,TotalIntensity,AverageIntensity\r\n"
    + "".join(f"{PARTIAL_USER},{h},{-3 if i == 5 else 6},0.1\r\n" for i, h in enumerate(_HOURS)),
}


def _variant(path: str) -> str:
    return re.search(r"/fitbit/([^/]+)/", path).group(1)


def _norm(row: dict, spec, drop_seconds: bool) -> tuple:
    """(key, values) of a silver row with the variant's id offset removed."""
    out = {}
    for c, v in row.items():
        if c in ("user_id", "log_id") and v is not None and c == "user_id":
            v = v % OFFSET
        if isinstance(v, dt.datetime) and drop_seconds:
            v = v.replace(second=0)
        out[c] = v
    return tuple(out[k] for k in spec.keys), out


def _same(a: dict, b: dict) -> bool:
    for c in a:
        x, y = a[c], b[c]
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-8, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


def test_spreadsheet_damage_never_changes_a_surviving_value(spark, kaggle_dir, tmp_path):
    landing = tmp_path / "landing"
    build_landing(kaggle_dir, landing)
    (landing / "fitbit" / "minutes").mkdir()
    for stem, text in MINUTE_FILES.items():
        (landing / "fitbit" / "minutes" / f"{stem}_merged.csv").write_text(text, newline="")
    (landing / "fitbit" / "partial").mkdir()
    for stem, text in PARTIAL_FILES.items():
        (landing / "fitbit" / "partial" / f"{stem}_merged.csv").write_text(text, newline="")
    (landing / "dailySteps_merged.csv").write_text("Id,ActivityDay,StepTotal\r\n1,4/13/2016,5\r\n", newline="")
    settings = Settings(root=tmp_path / "lake", landing=landing, date_order=None, parallel_tables=2)
    said: list[str] = []
    report = run_pipeline(spark, settings, ["ingest", "silver", "gold"], say=said.append)

    # silver, per variant, normalized back to the untouched ids
    by_variant: dict[tuple[str, str], dict] = {}
    for stem, table in TABLE_OF.items():
        spec = SPECS[table]
        df = delta_io.read(spark, settings.table("silver", table))
        cols = [c for c in df.columns if not c.startswith("_")]
        for r in df.select(*cols, "_source_file").collect():
            d = r.asDict()
            v = _variant(d.pop("_source_file"))
            if v == "partial":
                continue  # checked in gold below
            drop = next(x for x in VARIANTS if x.name == v).drops_seconds
            key, values = _norm(d, spec, drop)
            by_variant.setdefault((v, table), {})[key] = values
    quarantine: dict[tuple[str, str], list[str]] = {}
    for stem, table in TABLE_OF.items():
        ref = settings.table("quarantine", table)
        if delta_io.exists(spark, ref):
            for r in delta_io.read(spark, ref).select("_source_file", "_rule").collect():
                quarantine.setdefault((_variant(r["_source_file"]), table), []).append(r["_rule"])

    for stem, table in TABLE_OF.items():
        base = by_variant[("untouched", table)]
        assert base and ("untouched", table) not in quarantine, table
        for v in VARIANTS[1:]:
            got = by_variant.get((v.name, table), {})
            rules = quarantine.get((v.name, table), [])
            if v.only_days_upto_12 and stem not in v.only_days_upto_12:
                continue  # this variant has only the one ambiguous file
            if (v.name, stem) in LOST:
                assert got == {}, (v.name, table)  # nothing read as another value
                assert rules and set(rules) == {LOST[(v.name, stem)]}, (v.name, table, set(rules))
                continue
            assert rules == [], (v.name, table, sorted(set(rules)))
            want = base
            if v.drops_seconds:
                want = {k[:1] + tuple(x.replace(second=0) if isinstance(x, dt.datetime) else x for x in k[1:]):
                        {c: (x.replace(second=0) if isinstance(x, dt.datetime) else x) for c, x in row.items()}
                        for k, row in base.items()}
            assert got.keys() == want.keys(), (v.name, table, len(got), len(want))
            bad = [k for k in want if not _same(want[k], got[k])]
            assert not bad, (v.name, table, bad[:3], [(want[k], got[k]) for k in bad[:1]])

    # the rest of a full export reaches bronze
    for stem, table in [("minuteSleep", "minute_sleep"), ("minuteStepsWide", "minute_steps_wide"),
                        ("minuteMETsNarrow", "minute_mets_narrow"), ("heartrate_seconds", "heartrate_seconds")]:
        assert delta_io.read(spark, settings.table("bronze", table)).count() == 1, table
    wide = delta_io.read(spark, settings.table("bronze", "minute_steps_wide")).first()
    assert wide["Steps59"] == "1" and wide["_date_format"] == "M/d/yyyy h:mm:ss a"

    # the run says what it saw: a misplaced file, the formats per file, the undecided one with the setting to use
    notes = "\n".join(report.notes)
    assert "WARNING: 1 file(s) directly under landing/ are not read: put a Fitbit export in landing/fitbit/" in notes
    assert re.search(r"d/M/yyyy H:mm\s+\d+ file", notes) and re.search(r"M/d/yyyy h:mm:ss a\s+\d+ file", notes)
    assert "set --date-order month_first|day_first" in notes
    assert re.search(r"bronze\.hourly_intensities: \S+/fitbit/ambiguous/hourlyIntensities_merged\.csv", notes)
    assert all(c.reconciles for c in report.silver)
    # completeness per table: weight lost two variants' rows to scientific LogIds, far above the 5 % threshold
    assert re.search(r"silver\.weight_log\s+77\.8%\s+\(68 of 306 quarantined\)", notes), notes
    assert "WARNING: silver.weight_log quarantined 22% of its rows (above max_quarantine_share 5%)" in notes
    assert FILES  # the corpus files are the ones above

    # gold says, per user and day, which inputs were missing or quarantined, and the KPI rows that used them
    completeness = {(r["user_id"], r["date"]): r.asDict() for r in
                    delta_io.read(spark, settings.table("gold", "data_completeness")).collect()}
    day = completeness[(PARTIAL_USER, dt.date(2016, 4, 20))]
    assert (day["has_daily_activity"], day["has_sleep"], day["hourly_complete_hours"], day["heart_rate_hours"],
            day["missing_inputs"], day["quarantined_inputs"], day["quarantined_rows"], day["is_complete"]) == (
        True, False, 23, 0, "sleep_day,hourly_intensities,heartrate_seconds", "hourly_intensities", 1, False)
    assert abs(day["hourly_coverage"] - 23 / 24) < 1e-12
    untouched = completeness[(1503960366, dt.date(2016, 4, 12))]  # the corpus has no hourly steps/calories file
    assert (untouched["has_daily_activity"], untouched["has_sleep"], untouched["hourly_complete_hours"],
            untouched["missing_inputs"], untouched["quarantined_rows"]) == (
        True, True, 0, "hourly_steps,hourly_calories,heartrate_seconds", 0)
    heart_only = completeness[(2022484408, dt.date(2016, 4, 13))]
    assert (heart_only["heart_rate_hours"], heart_only["missing_inputs"]) == (
        1, "daily_activity,sleep_day,hourly_steps,hourly_calories,hourly_intensities")
    wellness = delta_io.read(spark, settings.table("gold", "kpi_wellness_daily"))
    flagged = {(r["user_id"], r["date"]): r["incomplete_inputs"] for r in wellness.collect()}
    assert flagged[(PARTIAL_USER, dt.date(2016, 4, 20))] == "sleep_day:missing"
    assert flagged[(1503960366, dt.date(2016, 4, 12))] is None  # its daily record and night are there
    complete = sum(r["is_complete"] for r in completeness.values())
    assert f"gold completeness: {complete} of {len(completeness)} user-days have every input" in notes
    assert re.search(r"inputs with quarantined rows \(user-days\): hourly_intensities 1\b", notes), notes
