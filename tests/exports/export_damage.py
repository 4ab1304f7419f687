"""Build, at test time, copies of the shared real export re-saved the ways a spreadsheet re-saves it (never
committed: the export stays where it is). Each variant gets its own user ids (``id + k * 10**10``) so all of them
land in one lakehouse side by side and each silver row says which variant it came from."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

FILES = ("dailyActivity", "dailySteps", "hourlyIntensities", "sleepDay", "weightLogInfo")
USERS = ("1503960366", "4319703577", "6962181067")  # three users with weight logs and sleep
DATE_COLUMNS = {"ActivityDate", "ActivityDay", "ActivityHour", "SleepDay", "Date"}
ID_COLUMNS = {"Id", "LogId"}
OFFSET = 10**10
NATIVE = "%m/%d/%Y %I:%M:%S %p"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    line_end: str = "\r\n"


def read_export(folder: Path, users=USERS) -> dict[str, Table]:
    out = {}
    for stem in FILES:
        with open(folder / f"{stem}_merged.csv", newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh))
        out[stem] = Table(header, [r for r in rows if r[0] in users])
    return out


def _when(text: str) -> tuple[dt.datetime, bool]:
    """The native value parsed, and whether it had a time part."""
    try:
        return dt.datetime.strptime(text, NATIVE), True
    except ValueError:
        return dt.datetime.strptime(text, "%m/%d/%Y"), False


def _dates(fmt_time: Callable[[dt.datetime], str], fmt_date: Callable[[dt.datetime], str]):
    def damage(t: Table) -> None:
        for i, name in enumerate(t.header):
            if name in DATE_COLUMNS:
                for r in t.rows:
                    when, timed = _when(r[i])
                    r[i] = fmt_time(when) if timed else fmt_date(when)
    return damage


# what one spreadsheet re-save does, one damage each
day_first = _dates(lambda d: f"{d:%d/%m/%Y %H:%M}", lambda d: f"{d:%d/%m/%Y}")  # en-GB: padded, 24 h, no seconds
us_24h = _dates(lambda d: f"{d.month}/{d.day}/{d.year} {d.hour}:{d.minute:02d}", lambda d: f"{d.month}/{d.day}/{d.year}")


def renamed_headers(t: Table) -> None:
    renames = {"ActivityDay": "ActivityDate", "Id": "id", "ActivityHour": "Activity Hour", "SleepDay": "sleepday"}
    t.header = [renames.get(h, h) for h in t.header]


def upper_booleans(t: Table) -> None:
    for i, name in enumerate(t.header):
        if name == "IsManualReport":
            for r in t.rows:
                r[i] = r[i].upper()


def ten_digits(t: Table) -> None:
    for i, name in enumerate(t.header):
        if name not in DATE_COLUMNS | ID_COLUMNS:
            for r in t.rows:
                if "." in r[i]:
                    r[i] = f"{float(r[i]):.10g}"


def lf_endings(t: Table) -> None:
    t.line_end = "\n"


def scientific_ids(t: Table, columns=("LogId",)) -> None:
    for i, name in enumerate(t.header):
        if name in columns:
            for r in t.rows:
                r[i] = f"{int(r[i]):.5E}"


@dataclass
class Variant:
    name: str
    k: int
    damages: tuple = ()
    per_file: dict = field(default_factory=dict)  # stem -> extra damages of that file only
    drops_seconds: bool = False
    only_days_upto_12: tuple = ()  # files cut to their days 1..12 (their date order cannot be decided)


VARIANTS = (
    Variant("untouched", 0),
    Variant("day_first", 1, (day_first,), drops_seconds=True),
    Variant("us_24h", 2, (us_24h,), drops_seconds=True),
    Variant("headers", 3, (renamed_headers,)),
    Variant("booleans", 4, (upper_booleans,)),
    Variant("decimals", 5, (ten_digits,)),
    Variant("lf", 6, (lf_endings,)),
    Variant("scientific_ids", 7, (), {"weightLogInfo": (scientific_ids,),
                                      "dailySteps": (lambda t: scientific_ids(t, ("Id",)),)}),
    Variant("all_at_once", 8, (day_first, renamed_headers, upper_booleans, ten_digits, lf_endings),
            {"weightLogInfo": (scientific_ids,)}, drops_seconds=True),
    Variant("ambiguous", 9, (day_first,), only_days_upto_12=("hourlyIntensities",), drops_seconds=True),
)


def _shift_ids(t: Table, k: int) -> None:
    for r in t.rows:
        r[0] = str(int(r[0]) + k * OFFSET)


def _days_upto_12(t: Table) -> None:
    i = next(i for i, h in enumerate(t.header) if h in DATE_COLUMNS)
    t.rows = [r for r in t.rows if _when(r[i])[0].day <= 12]


def write_variant(export: dict[str, Table], v: Variant, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stems = v.only_days_upto_12 or FILES
    for stem in stems:
        t = Table(list(export[stem].header), [list(r) for r in export[stem].rows])
        _shift_ids(t, v.k)
        if stem in v.only_days_upto_12:
            _days_upto_12(t)
        for damage in (*v.damages, *v.per_file.get(stem, ())):
            damage(t)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator=t.line_end)
        w.writerow(t.header)
        w.writerows(t.rows)
        (folder / f"{stem}_merged.csv").write_bytes(buf.getvalue().encode("utf-8"))


def build_landing(export_dir: Path, landing: Path) -> dict[str, Table]:
    export = read_export(export_dir)
    for v in VARIANTS:
        write_variant(export, v, landing / "fitbit" / v.name)
    return export
