"""Write a synthetic landing folder: activity JSON records and Fitbit-format exports for the same users and days,
with defects injected at ``defect_rate`` and a deterministic ``_manifest.json`` written last (its presence marks a
complete folder; a killed run is simply rerun and rewrites identical files)."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import multiprocessing as mp
import operator
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from fitlake.generate.formats import (
    AVERAGE_INTENSITY,
    HEADERS,
    POUNDS_PER_KG,
    SOURCE_OF_FILE,
    csv_text,
    fitbit_date,
    fitbit_time,
    float32_text,
    hour_strings,
    json_line,
)
from fitlake.generate.personas import ACTIVITY_TYPES, PERSONA_NAMES, Users, draw_users
from fitlake.generate.simulate import Day, simulate_day

REFERENCE_USERS = 1959
REFERENCE_DAYS = 183
MANIFEST = "_manifest.json"

EXPECTED: dict[str, str] = {
    "exact_duplicate": "deduplicated",
    "redelivered_correction": "corrected",
    "malformed_line": "quarantine",
    "wrong_type": "quarantine",
    "impossible_value": "quarantine",
    "missing_user_id": "quarantine",
    "future_date": "quarantine",
    "non_wear_day": "flagged",
    "extra_column": "rescued",
}
KINDS = tuple(EXPECTED)
QUARANTINE_KINDS = tuple(k for k, v in EXPECTED.items() if v == "quarantine")
# Record-level kinds drawn per record; non-wear is a property of the simulated day, and in the Fitbit CSVs an extra
# column is a property of a whole file.
RECORD_KINDS = {
    "activity": tuple(k for k in KINDS if k != "non_wear_day"),
    "daily_activity": tuple(k for k in KINDS if k not in ("non_wear_day", "extra_column")),
}
# hourlyIntensities value columns "TotalIntensity,AverageIntensity" for every possible TotalIntensity.
INTENSITY_TEXT = [f"{t},{a}" for t, a in enumerate(AVERAGE_INTENSITY)]
WRONG_TYPE_VALUES = ("abc", "n/a", "12,5O0", "7 km")
DEVICE_MODELS = ("Charge 6", "Versa 4", "Inspire 3")


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to write one day; a worker rebuilds the users from (seed, n_users)."""

    out_dir: str
    n_users: int
    days: int
    start: dt.date
    seed: int
    defect_rate: float
    every_kind: bool
    fitbit: bool = True

    def users(self) -> Users:
        users = draw_users(self.seed, self.n_users)
        if self.every_kind:  # fixtures: make sure every Fitbit file type has rows
            for arr in (users.tracks_hr, users.logs_weight, users.tracks_sleep):
                arr[0] = True
            users.weight_log_p[0] = 1.0
            users.sleep_log_p[0] = 1.0
        return users

    def forced(self, source: str, day_index: int) -> list[str]:
        """every_kind mode: each defect kind once per source, spread over the days after the first."""
        if not self.every_kind:
            return []
        kinds = {"activity": RECORD_KINDS["activity"],
                 "daily_activity": (*RECORD_KINDS["daily_activity"], "extra_column"),
                 "sleep_day": ("exact_duplicate",)}[source]
        offset = {"activity": 0, "daily_activity": 3, "sleep_day": 1}[source]
        span = max(self.days - 1, 1)
        return [k for i, k in enumerate(kinds) if min(1 + (i + offset) % span, self.days - 1) == day_index]


def _write(path: Path, text: str) -> int:
    """Atomic: a reader never sees half a file, and a rerun replaces it with identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def _future(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year + 100)
    except ValueError:  # 29 February
        return d.replace(year=d.year + 100, day=28)


def _plan_defects(rng: np.random.Generator, eligible: np.ndarray, rate: float, kinds: tuple[str, ...],
                  forced: list[str]) -> np.ndarray:
    """Kind index per record, -1 for clean; at most one defect per record."""
    n = len(eligible)
    plan = np.full(n, -1, dtype=np.int64)
    hit = (rng.random(n) < rate) & eligible
    plan[hit] = rng.integers(0, len(kinds), int(hit.sum()))
    for kind in forced:
        if kind in kinds and not (plan == kinds.index(kind)).any():
            free = np.nonzero(eligible & (plan == -1))[0]
            if len(free):
                plan[free[rng.integers(len(free))]] = kinds.index(kind)
    return plan


class _DayWriter:
    def __init__(self, plan: Plan, users: Users, day_index: int):
        self.plan, self.users, self.i = plan, users, day_index
        self.date = plan.start + dt.timedelta(days=day_index)
        self.root = Path(plan.out_dir)
        self.entries: list[dict] = []
        self.stats: dict[str, Counter] = defaultdict(Counter)
        self.rng = np.random.default_rng([plan.seed, 2, day_index])

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def put(self, source: str, path: Path, text: str, lines: int, clean: int = 0) -> None:
        s = self.stats[source]
        s["files"] += 1
        s["lines"] += lines
        s["records_clean"] += clean
        s["bytes"] += _write(path, text)

    def entry(self, kind: str, source: str, path: Path, line: int | None, uid: int | None, **extra) -> None:
        self.entries.append({"kind": kind, "source": source, "file": self.rel(path), "line": line,
                             "key": {"user_id": uid, "date": self.date.isoformat()}, **extra,
                             "expected": EXPECTED[kind]})

    def run(self, non_wear_rate: float) -> dict:
        force_nw = self.plan.every_kind and self.i == 1 % self.plan.days
        day = simulate_day(self.users, self.i, self.date, self.plan.seed, non_wear_rate,
                           force_non_wear=0 if force_nw else None)
        self.write_activity(day)
        if self.plan.fitbit:
            self.write_fitbit(day)
        return {"day": self.i, "entries": self.entries, "stats": {k: dict(v) for k, v in self.stats.items()}}

    # ---- activity JSON -------------------------------------------------------------------------------------
    def write_activity(self, day: Day) -> None:
        u, rng, src = self.users, self.rng, "activity"
        iso = self.date.isoformat()
        hr = [None if np.isnan(v) else v for v in day.heart_rate_avg.tolist()]
        sleep = [None if nw else v for nw, v in zip(day.non_wear.tolist(), day.sleep_hours.tolist())]
        records = [
            {"user_id": uid, "date": iso, "activity_type": ACTIVITY_TYPES[a], "steps": st, "calories_burned": float(c),
             "heart_rate_avg": h, "sleep_hours": sl, "duration_minutes": du, "distance_km": di}
            for uid, a, st, c, h, sl, du, di in zip(
                u.user_id.tolist(), day.activity_type.tolist(), day.steps.tolist(), day.calories.tolist(), hr, sleep,
                day.duration_minutes.tolist(), day.total_dist.tolist())
        ]
        path = self.root / "activity" / f"date={iso}" / "part-00000.json"
        fix_path = path.with_name("part-00001-corrections.json")
        for i in np.nonzero(day.non_wear)[0]:
            self.entry("non_wear_day", src, path, int(i) + 1, records[i]["user_id"])
        kinds = RECORD_KINDS[src]
        plan = _plan_defects(rng, ~day.non_wear, self.plan.defect_rate * len(kinds) / len(KINDS), kinds,
                             self.plan.forced(src, self.i))
        lines = [json_line(r) for r in records]
        tail: list[str] = []
        fixes: list[str] = []
        for i in np.nonzero(plan >= 0)[0].tolist():
            kind, rec = kinds[plan[i]], dict(records[i])
            uid, line = rec["user_id"], i + 1
            if kind == "exact_duplicate":
                tail.append(lines[i])
                self.entry(kind, src, path, len(records) + len(tail), uid, duplicate_of=line)
            elif kind == "redelivered_correction":
                f = rng.uniform(0.5, 0.9)
                wrong = {"steps": int(rec["steps"] * f), "calories_burned": float(int(rec["calories_burned"] * f)),
                         "distance_km": round(rec["distance_km"] * f, 2)}
                fixes.append(lines[i])
                lines[i] = json_line({**rec, **wrong})
                self.entry(kind, src, path, line, uid, correction_file=self.rel(fix_path),
                           correction_line=len(fixes), original=wrong,
                           corrected={k: rec[k] for k in wrong})
            elif kind == "malformed_line":
                lines[i] = lines[i][: len(lines[i]) // 2]
                self.entry(kind, src, path, line, uid)
            elif kind == "wrong_type":
                field = ("steps", "calories_burned", "heart_rate_avg", "duration_minutes")[rng.integers(4)]
                value = WRONG_TYPE_VALUES[rng.integers(len(WRONG_TYPE_VALUES))]
                lines[i] = json_line({**rec, field: value})
                self.entry(kind, src, path, line, uid, field=field, value=value)
            elif kind == "impossible_value":
                field, value = [("steps", int(rng.integers(100_001, 250_000))), ("steps", -int(rng.integers(1, 5000))),
                                ("heart_rate_avg", 0), ("heart_rate_avg", 300)][rng.integers(4)]
                lines[i] = json_line({**rec, field: value})
                self.entry(kind, src, path, line, uid, field=field, value=value)
            elif kind == "missing_user_id":
                if i % 2:
                    del rec["user_id"]
                else:
                    rec["user_id"] = None
                lines[i] = json_line(rec)
                self.entry(kind, src, path, line, uid, field="user_id")
            elif kind == "future_date":
                value = _future(self.date).isoformat()
                lines[i] = json_line({**rec, "date": value})
                self.entry(kind, src, path, line, uid, field="date", value=value)
            elif kind == "extra_column":
                value = DEVICE_MODELS[rng.integers(len(DEVICE_MODELS))]
                lines[i] = json_line({**rec, "device_model": value})
                self.entry(kind, src, path, line, uid, field="device_model", value=value)
        body = lines + tail
        self.put(src, path, "\n".join(body) + "\n", len(body), clean=len(records))
        if fixes:
            self.put(src, fix_path, "\n".join(fixes) + "\n", len(fixes))

    # ---- Fitbit CSVs ---------------------------------------------------------------------------------------
    def write_fitbit(self, day: Day) -> None:
        u, d = self.users, self.date
        folder = self.root / "fitbit" / d.isoformat()
        ids = [str(x) for x in u.user_id.tolist()]
        n = len(ids)
        ds = fitbit_date(d)
        steps, cals = day.steps.tolist(), day.calories.tolist()
        very_d, mod_d, light_d, sed_d = (float32_text(x) for x in (day.very_dist, day.moderate_dist, day.light_dist,
                                                                    day.sedentary_dist))
        total_d, tracker_d, logged_d = (float32_text(x) for x in (day.total_dist, day.tracker_dist, day.logged_dist))
        very, fairly, light, sed = (x.tolist() for x in (day.very, day.fairly, day.light, day.sedentary))
        daily = [[ids[i], ds, str(steps[i]), total_d[i], tracker_d[i], logged_d[i], very_d[i], mod_d[i], light_d[i],
                  sed_d[i], str(very[i]), str(fairly[i]), str(light[i]), str(sed[i]), str(cals[i])] for i in range(n)]
        self.write_daily_activity(day, folder, daily)
        self.put("daily_calories", folder / "dailyCalories_merged.csv",
                 csv_text(HEADERS["dailyCalories"], [f"{ids[i]},{ds},{cals[i]}" for i in range(n)]), n, n)
        self.put("daily_steps", folder / "dailySteps_merged.csv",
                 csv_text(HEADERS["dailySteps"], [f"{ids[i]},{ds},{steps[i]}" for i in range(n)]), n, n)
        self.put("daily_intensities", folder / "dailyIntensities_merged.csv", csv_text(HEADERS["dailyIntensities"], [
            f"{ids[i]},{ds},{sed[i]},{light[i]},{fairly[i]},{very[i]},{sed_d[i]},{light_d[i]},{mod_d[i]},{very_d[i]}"
            for i in range(n)]), n, n)

        # Row prefix "Id,ActivityHour," built once and shared by the three hourly files.
        hours = hour_strings(d)
        prefix = [f"{x},{h}," for x in ids for h in hours]
        for stem, values, text in (("hourlySteps", day.steps_h, str), ("hourlyCalories", day.calories_h, str),
                                   ("hourlyIntensities", day.intensity_h, INTENSITY_TEXT.__getitem__)):
            rows = list(map(operator.add, prefix, map(text, values.ravel().tolist())))
            self.put(SOURCE_OF_FILE[stem], folder / f"{stem}_merged.csv", csv_text(HEADERS[stem], rows), len(rows),
                     len(rows))

        self.write_sleep(day, folder, ids)
        if len(day.weight_user):
            kg = day.weight_kg.astype(np.float32).astype(np.float64)
            bmi = float32_text(kg / u.height_m[day.weight_user] ** 2)
            epoch = calendar.timegm(d.timetuple())
            manual = u.weight_manual[day.weight_user].tolist()
            rows = [
                f"{ids[w]},{fitbit_time(d, s)},{'%.15g' % k},{'%.15g' % (k * POUNDS_PER_KG)},"
                f"{'' if np.isnan(fat) else int(fat)},{b},{m},{(epoch + s) * 1000}"
                for w, s, k, fat, b, m in zip(day.weight_user.tolist(), day.weight_second.tolist(), kg.tolist(),
                                               day.weight_fat.tolist(), bmi, manual)
            ]
            self.put("weight_log", folder / "weightLogInfo_merged.csv", csv_text(HEADERS["weightLogInfo"], rows),
                     len(rows), len(rows))
        if len(day.hr_user):
            times = {m: [fitbit_time(d, m * 60 + sec) for sec in range(10)] for m in np.unique(day.hr_minute).tolist()}
            rows = [f"{ids[w]},{times[m][sec]},{v}" for w, m, sec, v in zip(
                day.hr_user.tolist(), day.hr_minute.tolist(), day.hr_second.tolist(), day.hr_value.tolist())]
            self.put("heartrate_seconds", folder / "heartrate_seconds_merged.csv",
                     csv_text(HEADERS["heartrate_seconds"], rows), len(rows), len(rows))

    def write_daily_activity(self, day: Day, folder: Path, daily: list[list[str]]) -> None:
        rng, src, d = self.rng, "daily_activity", self.date
        path = folder / "dailyActivity_merged.csv"
        fix_path = self.root / "fitbit" / (d + dt.timedelta(days=1)).isoformat() / "dailyActivity_merged (1).csv"
        header = list(HEADERS["dailyActivity"])
        for i in np.nonzero(day.non_wear)[0]:
            self.entry("non_wear_day", src, path, int(i) + 2, int(daily[i][0]))
        kinds = RECORD_KINDS[src]
        plan = _plan_defects(rng, ~day.non_wear, self.plan.defect_rate * len(kinds) / len(KINDS), kinds,
                             self.plan.forced(src, self.i))
        rows = [list(r) for r in daily]
        tail: list[list[str]] = []
        fixes: list[list[str]] = []
        for i in np.nonzero(plan >= 0)[0].tolist():
            kind, uid, line = kinds[plan[i]], int(daily[i][0]), i + 2
            if kind == "exact_duplicate":
                tail.append(rows[i])
                self.entry(kind, src, path, len(rows) + len(tail) + 1, uid, duplicate_of=line)
            elif kind == "redelivered_correction":
                f = rng.uniform(0.5, 0.9)
                wrong = {"TotalSteps": str(int(int(daily[i][2]) * f)), "Calories": str(int(int(daily[i][14]) * f))}
                rows[i][2], rows[i][14] = wrong["TotalSteps"], wrong["Calories"]
                fixes.append(daily[i])
                self.entry(kind, src, path, line, uid, correction_file=self.rel(fix_path),
                           correction_line=len(fixes) + 1, original=wrong,
                           corrected={"TotalSteps": daily[i][2], "Calories": daily[i][14]})
            elif kind == "malformed_line":
                text = ",".join(rows[i])
                rows[i] = [text[: len(text) // 2]]
                self.entry(kind, src, path, line, uid)
            elif kind == "wrong_type":
                col = (2, 14, 10, 3)[rng.integers(4)]
                rows[i][col] = WRONG_TYPE_VALUES[rng.integers(2)]  # no commas inside a CSV field
                self.entry(kind, src, path, line, uid, field=header[col], value=rows[i][col])
            elif kind == "impossible_value":
                col, value = [(2, int(rng.integers(100_001, 250_000))), (2, -int(rng.integers(1, 5000))),
                              (14, -int(rng.integers(1, 3000)))][rng.integers(3)]
                rows[i][col] = str(value)
                self.entry(kind, src, path, line, uid, field=header[col], value=value)
            elif kind == "missing_user_id":
                rows[i][0] = ""
                self.entry(kind, src, path, line, uid, field="Id")
            elif kind == "future_date":
                rows[i][1] = fitbit_date(_future(d))
                self.entry(kind, src, path, line, uid, field="ActivityDate", value=rows[i][1])
        body = rows + tail
        extra = "extra_column" in self.plan.forced(src, self.i) or (
            self.i > 0 and rng.random() < min(1.0, self.plan.defect_rate * 3))
        if extra:
            models = [DEVICE_MODELS[j] for j in rng.integers(0, len(DEVICE_MODELS), len(body))]
            header.append("DeviceModel")
            body = [r + [m] if len(r) > 1 else r for r, m in zip(body, models)]
            self.entries.append({"kind": "extra_column", "source": src, "file": self.rel(path), "line": None,
                                 "rows": len(body), "key": None, "field": "DeviceModel",
                                 "expected": EXPECTED["extra_column"]})
        self.put(src, path, csv_text(header, [",".join(r) for r in body]), len(body), len(daily))
        if fixes:
            self.put(src, fix_path, csv_text(list(HEADERS["dailyActivity"]), [",".join(r) for r in fixes]),
                     len(fixes))

    def write_sleep(self, day: Day, folder: Path, ids: list[str]) -> None:
        who = np.nonzero(day.sleep_logged)[0].tolist()
        if not who:
            return
        path = folder / "sleepDay_merged.csv"
        when = fitbit_time(self.date, 0)
        rows = [f"{ids[i]},{when},{day.sleep_records[i]},{day.minutes_asleep[i]},{day.time_in_bed[i]}" for i in who]
        dup = (self.rng.random(len(rows)) < self.plan.defect_rate).nonzero()[0].tolist()
        if "exact_duplicate" in self.plan.forced("sleep_day", self.i) and not dup:
            dup = [0]
        for k, j in enumerate(dup):
            self.entry("exact_duplicate", "sleep_day", path, len(rows) + k + 2, int(ids[who[j]]), duplicate_of=j + 2)
        body = rows + [rows[j] for j in dup]
        self.put("sleep_day", path, csv_text(HEADERS["sleepDay"], body), len(body), len(rows))


_WORKER: dict = {}


def _init_worker(plan: Plan) -> None:
    _WORKER["plan"], _WORKER["users"] = plan, plan.users()


def _run_day(day_index: int) -> dict:
    plan = _WORKER["plan"]
    return _DayWriter(plan, _WORKER["users"], day_index).run(non_wear_rate(plan.defect_rate))


def non_wear_rate(defect_rate: float) -> float:
    """Non-wear days are one of the nine defect kinds, so they take a ninth of the defect budget."""
    return defect_rate / len(KINDS)


def _day_results(plan: Plan, workers: int) -> Iterator[dict]:
    # Scripts that call generate_landing at import time (no ``if __name__ == "__main__"``) need workers=1.
    if workers <= 1 or plan.days <= 2:
        _init_worker(plan)
        for i in range(plan.days):
            yield _run_day(i)
        return
    # spawn, not fork: the caller may be a process that already runs a JVM (make run).
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
        yield from pool.imap(_run_day, range(plan.days))


def generate_landing(
    out_dir: str | os.PathLike,
    users: int = REFERENCE_USERS,
    days: int = REFERENCE_DAYS,
    start: str | dt.date = "2023-04-01",
    seed: int = 42,
    defect_rate: float = 0.01,
    scale: float | None = None,
    progress: bool | Callable[[int, int], None] = True,
    every_kind: bool = False,
    workers: int | None = None,
    fitbit: bool = True,
) -> dict:
    """Write the landing folder and return its manifest. ``scale`` multiplies ``users`` (10 -> 19,590 users);
    ``every_kind`` forces each defect kind at least once per format (fixtures); ``fitbit=False`` writes only the
    activity records (quick tests and benchmarks of the JSON path)."""
    from fitlake.generate.progress import ProgressBar

    start_date = start if isinstance(start, dt.date) else dt.date.fromisoformat(start)
    n_users = int(round(users * scale)) if scale else int(users)
    if n_users < 1 or days < 1 or not 0 <= defect_rate < 1:
        raise ValueError("users and days must be >= 1 and defect_rate in [0, 1)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # absent until the folder is complete again
    plan = Plan(str(out), n_users, days, start_date, seed, defect_rate, every_kind, fitbit)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    started = time.perf_counter()
    bar = ProgressBar(days, "generate") if progress is True else None
    entries: list[dict] = []
    stats: dict[str, Counter] = defaultdict(Counter)
    for done, result in enumerate(_day_results(plan, workers), start=1):
        entries.extend(result["entries"])
        for source, s in result["stats"].items():
            stats[source].update(s)
        if bar:
            bar.update(done)
        elif callable(progress):
            progress(done, days)
    if bar:
        bar.close()
    manifest = build_manifest(plan, entries, stats)
    _write(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    manifest["elapsed_seconds"] = round(time.perf_counter() - started, 2)  # returned only, never written
    return manifest


def build_manifest(plan: Plan, entries: list[dict], stats: dict[str, Counter]) -> dict:
    entries.sort(key=lambda e: (e["file"], e["line"] or 0, e["kind"]))
    users = plan.users()
    counts: dict[str, dict[str, int]] = {}
    for e in entries:
        counts.setdefault(e["kind"], Counter())[e["source"]] += 1
    totals = {source: dict(sorted(s.items())) for source, s in sorted(stats.items())}
    expected = {}
    for source, s in totals.items():
        quarantined = sum(counts.get(k, {}).get(source, 0) for k in QUARANTINE_KINDS)
        expected[source] = {"silver_rows": s["records_clean"] - quarantined, "quarantine_rows": quarantined}
    end = plan.start + dt.timedelta(days=plan.days - 1)
    return {
        "generator": "fitlake.generate",
        "format_version": 1,
        "arguments": {"users": plan.n_users, "days": plan.days, "start": plan.start.isoformat(), "seed": plan.seed,
                      "defect_rate": plan.defect_rate, "every_kind": plan.every_kind,
                      "fitbit": plan.fitbit},
        "users": plan.n_users,
        "days": plan.days,
        "dates": {"first": plan.start.isoformat(), "last": end.isoformat()},
        "activity_types": list(ACTIVITY_TYPES),
        "totals": totals,
        "expected": expected,
        "defect_counts": {k: dict(sorted(counts[k].items())) for k in KINDS if k in counts},
        "personas": {"names": list(PERSONA_NAMES),
                     "by_user": {str(uid): PERSONA_NAMES[p] for uid, p in zip(users.user_id.tolist(),
                                                                               users.persona.tolist())}},
        "defects": entries,
    }
