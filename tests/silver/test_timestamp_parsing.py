"""``parse(..., "fitbit_timestamp")`` against an exact reference: the cases of the parsers' contract with their
values written out, and a seeded corpus of generated valid and broken values in both date orders (plus orders that
are no order), each compared with ``reference`` below, a plain-Python statement of the contract."""

from __future__ import annotations

import random
import re

import pytest
from pyspark.sql import functions as F

from fitlake.silver.parsing import parse

ORDERS = ("M/d", "d/M", "undecided", None)

# (text, order, value as yyyy-MM-dd HH:mm:ss or None)
CASES = [
    ("4/12/2016 1:00:00 AM", "M/d", "2016-04-12 01:00:00"),
    ("4/12/2016 1:00:00 AM", "d/M", "2016-12-04 01:00:00"),
    ("4/12/2016 1:00:00 AM", "undecided", None),
    ("4/12/2016 1:00:00 AM", None, None),
    ("4/12/2016 12:00:00 AM", "M/d", "2016-04-12 00:00:00"),  # 12 AM is 0 h
    ("4/12/2016 12:00:00 PM", "M/d", "2016-04-12 12:00:00"),  # 12 PM is 12 h
    ("4/12/2016 12:30 am", "M/d", "2016-04-12 00:30:00"),
    ("4/12/2016 11:59:59 PM", "M/d", "2016-04-12 23:59:59"),
    ("4/12/2016 1:05 aM", "M/d", "2016-04-12 01:05:00"),  # AM/PM in any letter case
    ("4/12/2016 1:05 Pm", "M/d", "2016-04-12 13:05:00"),
    ("4/12/2016 01:05 pm", "M/d", "2016-04-12 13:05:00"),
    ("4/12/2016 13:00:00 PM", "M/d", None),  # no 13 o'clock on a 12-hour clock
    ("4/12/2016 0:00:00 AM", "M/d", None),  # nor 0
    ("4/12/2016 00:30 am", "M/d", None),
    ("4/12/2016 0:00", "M/d", "2016-04-12 00:00:00"),  # 24-hour clock
    ("4/12/2016 00:00:00", "M/d", "2016-04-12 00:00:00"),
    ("4/12/2016 23:59:59", "M/d", "2016-04-12 23:59:59"),
    ("4/12/2016 13:07", "M/d", "2016-04-12 13:07:00"),
    ("4/12/2016 24:00:00", "M/d", None),
    ("4/12/2016 24:00", "M/d", None),
    ("4/12/2016 12:60", "M/d", None),
    ("4/12/2016 12:59:60", "M/d", None),  # no leap seconds
    ("4/12/2016 12:5", "M/d", None),  # minutes are two digits
    ("4/12/2016 1:00:0 AM", "M/d", None),
    ("4/12/2016 1:00:00.5", "M/d", None),
    ("04/05/2016 7:08", "M/d", "2016-04-05 07:08:00"),
    ("04/05/2016 7:08", "d/M", "2016-05-04 07:08:00"),
    ("13/12/2016 1:00", "M/d", None),
    ("13/12/2016 1:00", "d/M", "2016-12-13 01:00:00"),
    ("12/13/2016 1:00", "M/d", "2016-12-13 01:00:00"),
    ("12/13/2016 1:00", "d/M", None),
    ("0/12/2016 1:00", "M/d", None),
    ("4/0/2016 1:00", "M/d", None),
    ("2/30/2016 1:00 AM", "M/d", None),  # Feb 30 refused, not rolled over
    ("30/2/2016 1:00", "d/M", None),
    ("2/29/2016 1:00 AM", "M/d", "2016-02-29 01:00:00"),
    ("2/29/2015 1:00 AM", "M/d", None),
    ("4/12/16 1:00:00 AM", "M/d", None),  # a two-digit year is not year 16
    ("4/12/0001 1:00", "M/d", "0001-04-12 01:00:00"),
    ("4/12/9999 23:59:59", "M/d", "9999-04-12 23:59:59"),
    ("  4/12/2016 1:00:00 PM  ", "M/d", "2016-04-12 13:00:00"),  # trimmed (clean_text)
    ("4/12/2016 1:00:00 AM\n", "M/d", None),  # not trimmed: a line break is not a space
    ("4/12/2016 1:00\n", "M/d", None),
    ("4/12/2016 1:00\r\n", "M/d", None),
    ("4/12/2016 1:00:00 XM", "M/d", None),
    ("4/12/2016 1:00:00AM", "M/d", None),
    ("4/12/2016  1:00", "M/d", None),
    ("4/12/2016T1:00", "M/d", None),
    ("4/12/2016\t1:00", "M/d", None),
    ("\t4/12/2016 1:00", "M/d", None),  # only spaces are trimmed
    ("4/12/2016 1:00 AM PM", "M/d", None),
    ("\uff14/12/2016 1:00", "M/d", None),  # full-width digit
    ("+4/12/2016 1:00", "M/d", None),
    ("4/12/2016", "M/d", None),
    ("", "M/d", None),
    (None, "M/d", None),
]

_SHAPE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?: ([AaPp])[Mm])?")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; year 0 is 1 BC)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _days_in_month(y: int, m: int) -> int:
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    return [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def reference(text: str | None, order: str | None) -> int | None:
    """Microseconds since the epoch (UTC) of ``text`` read as a Fitbit timestamp in ``order``, or None."""
    text = None if text is None else text.strip(" ")
    match = _SHAPE.fullmatch(text) if text else None
    if match is None or order not in ("M/d", "d/M"):
        return None
    a, b, year, hour, minute = (int(g) for g in match.groups()[:5])
    second = int(match.group(6) or 0)
    month, day = (a, b) if order == "M/d" else (b, a)
    if match.group(7) is None:
        ok = hour <= 23
    else:
        ok = 1 <= hour <= 12
        hour = hour % 12 + (12 if match.group(7) in "Pp" else 0)
    if not (ok and 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month) and minute <= 59 and second <= 59):
        return None
    return ((_days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000


def _corpus(n: int, seed: int = 22) -> list[str]:
    rnd = random.Random(seed)

    def num(lo: int, hi: int) -> str:
        v = rnd.randint(lo, hi)
        return f"{v:02d}" if v < 10 and rnd.random() < 0.3 else str(v)

    out = []
    for _ in range(n):
        year = rnd.choice(["2016", "2015", "2000", "1900", "0000", "0001", "9999", f"{rnd.randint(0, 9999):04d}"])
        ampm = rnd.choice([None, None, "AM", "PM", "am", "pm", "aM", "Pm"])
        seconds = rnd.choice([None, f"{rnd.randint(0, 61):02d}"])
        v = f"{num(0, 32)}/{num(0, 32)}/{year} {num(0, 25)}:{rnd.randint(0, 61):02d}"
        v += (f":{seconds}" if seconds else "") + (f" {ampm}" if ampm else "")
        if rnd.random() < 0.3:  # one character inserted, deleted or replaced
            i = rnd.randint(0, len(v))
            c = rnd.choice("0123456789/: APMapm\n\t.x-+")
            v = rnd.choice([v[:i] + c + v[i:], v[:i] + v[i + 1:], v[:i] + c + v[i + 1:]])
        out.append(v)
    return out


def _parsed(spark, rows):
    df = spark.createDataFrame(rows, "text string, order string")
    return df.select("text", "order", parse("text", "fitbit_timestamp", "order").alias("ts"))


@pytest.mark.parametrize("text, order, expected", CASES)
def test_reference_states_the_contract(text, order, expected):
    import datetime as dt

    micros = reference(text, order)
    got = None if micros is None else (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)).isoformat(" ")
    assert got == expected


def test_fitbit_timestamps_parse_exactly_as_the_contract_says(spark):
    rows = _parsed(spark, [(t, o) for t, o, _ in CASES]).select(
        "text", "order", F.date_format("ts", "yyyy-MM-dd HH:mm:ss").alias("ts")).collect()
    assert [(r.text, r.order, r.ts) for r in rows] == CASES


def test_generated_timestamps_in_every_order_match_the_reference(spark):
    corpus = _corpus(4000)
    rows = [(t, o) for t in corpus for o in ORDERS]
    got = {(r.text, r.order): r.micros for r in _parsed(spark, rows).select(
        "text", "order", F.unix_micros("ts").alias("micros")).collect()}
    expected = {(t, o): reference(t, o) for t, o in rows}
    assert sum(v is not None for v in expected.values()) > 1000  # the corpus holds valid values too
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not wrong, list(wrong.items())[:10]
