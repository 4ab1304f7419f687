"""The bronze sources: where each one's files land, how they are matched, and the columns we expect them to have.

The expected columns are the schema hints: the persisted schema always starts with them, so a first file that lacks
a column does not shrink the schema, and Databricks gets the same list as ``cloudFiles.schemaHints``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMATS = ("csv", "json")


@dataclass(frozen=True)
class BronzeSource:
    name: str  # bronze table name (config.TABLES["bronze"]) and key in SOURCES
    format: str  # "csv" (header line, delimiter) or "json" (JSON lines)
    pattern: str  # landing-relative glob, e.g. fitbit/*/dailyActivity_merged*.csv
    columns: tuple[str, ...]  # expected columns, exactly as named in the files
    delimiter: str = ","
    max_files_per_trigger: int = 500  # bounds one micro-batch: each file is one row in wholetext mode

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"{self.name}: format must be one of {FORMATS}, not {self.format!r}")

    @property
    def root(self) -> str:
        """The top folder of the pattern: listed recursively (so no `date=` partition column is inferred)."""
        return self.pattern.split("/", 1)[0]

    @property
    def glob(self) -> str:
        """The file-name part of the pattern (Spark's ``pathGlobFilter``): ``*.csv`` never matches ``x.csv.tmp``."""
        return self.pattern.rsplit("/", 1)[-1]


def _fitbit(name: str, file_stem: str, columns: str) -> BronzeSource:
    return BronzeSource(name, "csv", f"fitbit/*/{file_stem}_merged*.csv", tuple(columns.split(",")))


def _minutes(prefix: str) -> str:
    """The 60 per-minute columns of a wide file: Steps00,...,Steps59."""
    return ",".join(f"{prefix}{m:02d}" for m in range(60))


_SOURCES = (
    BronzeSource(
        "activity",
        "json",
        "activity/*/*.json",
        (
            "user_id",
            "date",
            "activity_type",
            "steps",
            "calories_burned",
            "heart_rate_avg",
            "sleep_hours",
            "duration_minutes",
            "distance_km",
        ),
    ),
    _fitbit(
        "daily_activity",
        "dailyActivity",
        "Id,ActivityDate,TotalSteps,TotalDistance,TrackerDistance,LoggedActivitiesDistance,VeryActiveDistance,"
        "ModeratelyActiveDistance,LightActiveDistance,SedentaryActiveDistance,VeryActiveMinutes,FairlyActiveMinutes,"
        "LightlyActiveMinutes,SedentaryMinutes,Calories",
    ),
    _fitbit("daily_steps", "dailySteps", "Id,ActivityDay,StepTotal"),
    _fitbit("daily_calories", "dailyCalories", "Id,ActivityDay,Calories"),
    _fitbit(
        "daily_intensities",
        "dailyIntensities",
        "Id,ActivityDay,SedentaryMinutes,LightlyActiveMinutes,FairlyActiveMinutes,VeryActiveMinutes,"
        "SedentaryActiveDistance,LightActiveDistance,ModeratelyActiveDistance,VeryActiveDistance",
    ),
    _fitbit("hourly_steps", "hourlySteps", "Id,ActivityHour,StepTotal"),
    _fitbit("hourly_calories", "hourlyCalories", "Id,ActivityHour,Calories"),
    _fitbit("hourly_intensities", "hourlyIntensities", "Id,ActivityHour,TotalIntensity,AverageIntensity"),
    _fitbit("sleep_day", "sleepDay", "Id,SleepDay,TotalSleepRecords,TotalMinutesAsleep,TotalTimeInBed"),
    _fitbit("weight_log", "weightLogInfo", "Id,Date,WeightKg,WeightPounds,Fat,BMI,IsManualReport,LogId"),
    _fitbit("heartrate_seconds", "heartrate_seconds", "Id,Time,Value"),
    # The rest of a full Fitbit export: raw in bronze (no silver model yet), so nothing of an export is left unread.
    _fitbit("minute_calories_narrow", "minuteCaloriesNarrow", "Id,ActivityMinute,Calories"),
    _fitbit("minute_intensities_narrow", "minuteIntensitiesNarrow", "Id,ActivityMinute,Intensity"),
    _fitbit("minute_mets_narrow", "minuteMETsNarrow", "Id,ActivityMinute,METs"),
    _fitbit("minute_steps_narrow", "minuteStepsNarrow", "Id,ActivityMinute,Steps"),
    _fitbit("minute_calories_wide", "minuteCaloriesWide", "Id,ActivityHour," + _minutes("Calories")),
    _fitbit("minute_intensities_wide", "minuteIntensitiesWide", "Id,ActivityHour," + _minutes("Intensity")),
    _fitbit("minute_steps_wide", "minuteStepsWide", "Id,ActivityHour," + _minutes("Steps")),
    _fitbit("minute_sleep", "minuteSleep", "Id,date,value,logId"),
    BronzeSource(
        "events",
        "json",
        "events/*.json",
        ("event_id", "user_id", "event_time", "steps", "heart_rate", "calories", "activity_type"),
    ),
)

SOURCES: dict[str, BronzeSource] = {s.name: s for s in _SOURCES}

# What `ingest_all` runs by default: the batch sources. Live events (`events`) are read by the streaming job with
# the same reader; `ingest_source(spark, settings, "events")` lands them in bronze.events on demand.
BATCH_SOURCES: tuple[str, ...] = tuple(n for n in SOURCES if n != "events")

# Names one column has in other Fitbit export versions (the first is not special). A header name is matched to a
# source's columns case-, space- and underscore-insensitively, then through these groups: a daily file whose header
# says ``ActivityDate`` where this source expects ``ActivityDay`` fills ``ActivityDay``. The raw Fitbit names live
# here and in ``_SOURCES`` only; silver specs take theirs from ``SOURCES`` (``fitbit_column``).
HEADER_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("ActivityDate", "ActivityDay"),
    ("TotalSteps", "StepTotal"),
    ("Id", "UserId"),
    ("SleepDay", "SleepDate"),
)


# Silver's name for a raw Fitbit column: snake_case of the raw name, but for these.
_SILVER_NAMES = {"Id": "user_id", "ActivityDate": "activity_date", "ActivityDay": "activity_date",
                 "SleepDay": "sleep_date"}


def snake_name(raw: str) -> str:
    """``TotalSteps`` -> ``total_steps``, ``BMI`` -> ``bmi``, ``Id`` -> ``user_id`` (``_SILVER_NAMES``)."""
    return _SILVER_NAMES.get(raw) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", raw).lower()


def raw_column(source: str, name: str) -> str:
    """The raw column of ``source`` whose silver name is ``name``: how silver specs name their bronze fields, so
    each raw Fitbit name is written once, in ``_SOURCES``."""
    found = [c for c in SOURCES[source].columns if snake_name(c) == name]
    if len(found) != 1:
        raise KeyError(f"bronze source {source} has {len(found)} columns named {name!r} in silver")
    return found[0]
