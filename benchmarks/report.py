"""Markdown from a bench.json: ``python -m benchmarks.report bench.json [--doc docs/performance.md]``.

The performance page's numbers are written by this, never typed: ``--doc`` (alias ``--readme``) replaces the text
between ``<!-- bench:begin -->`` / ``<!-- bench:end -->`` markers. A marker may name the JSON it is rendered from
(``<!-- bench:begin benchmarks/results/x.json -->``): that block is the one a run of that JSON replaces, and
``--check DOC`` re-renders every named block from its JSON and fails when the page drifted from it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# ``<!-- bench:begin [headline] [path/to/run.json] -->``: ``headline`` renders only the figures that have a target
# (the README's short form), else the whole report (``render``).
BLOCK = re.compile(r"<!-- bench:begin(?: (?P<kind>headline))?(?: (?P<source>[^\s>]+))? -->\n?(?P<body>.*?)"
                   r"<!-- bench:end -->", re.S)
REPO = Path(__file__).resolve().parents[1]


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}" if abs(v) < 0.1 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def headline_table(bench: dict, targets_only: bool = False) -> str:
    """From the figures with today's ``headline`` rules (a JSON's stored headline may predate a fix); only the
    figures that have a target, with ``targets_only``."""
    from benchmarks.run import headline

    rows = ["| figure | metric | value | target | met |", "| --- | --- | --- | --- | --- |"]
    for h in headline(bench.get("figures", {})):
        if targets_only and not h.get("target"):
            continue
        met = h.get("met")
        rows.append(
            f"| {h['figure']} | {h['metric']} | {_fmt(h.get('value'))}{(' ' + h['unit']) if h.get('unit') else ''} "
            f"| {h.get('target') or ''} | {'—' if met is None else ('✅' if met else '❌ missed')} |"
        )
    return "\n".join(rows)


def stage_table(bench: dict) -> str:
    b1 = bench.get("figures", {}).get("B1", {})
    rows = []
    for scale_key, run in b1.items():
        if not isinstance(run, dict):
            continue
        for stage, s in (run.get("stages") or {}).items():
            rows.append(
                f"| {scale_key} | {stage} | {_fmt(s.get('seconds'))} | {_fmt(s.get('rows'))} | {_fmt(s.get('rows_per_s'))} |"
            )
    if not rows:
        return ""
    return "\n".join(["| scale | stage | seconds | rows written | rows/s |", "| --- | --- | --- | --- | --- |", *rows])


def streaming_table(bench: dict) -> str:
    b4 = bench.get("figures", {}).get("B4", {})
    rows = []
    for r in b4.get("rates", []) if isinstance(b4, dict) else []:
        rows.append(
            f"| {_fmt(r.get('input_rate'))} | {_fmt(r.get('events_per_s'))} | {_fmt(r.get('latency_p50_s'))} "
            f"| {_fmt(r.get('latency_p95_s'))} | {_fmt(r.get('events'))} | {_fmt(r.get('kept_up'))} |"
        )
    if not rows:
        return ""
    return "\n".join(
        ["| offered events/s | sustained events/s | batch latency p50 s | p95 s | events | kept up |",
         "| --- | --- | --- | --- | --- | --- |", *rows]
    )


EXPECTED = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "dashboard")  # B8: fitlake maintain before/after


def unavailable(bench: dict) -> list[str]:
    """Every figure this JSON lacks, with why: failed, skipped, unavailable, or absent (not run, or not yet)."""
    figures = bench.get("figures", {})
    out = [f"- {fig}: not in this JSON (not selected, or the run had not reached it)"
           for fig in EXPECTED if fig not in figures and fig in bench.get("expected", EXPECTED)]
    for scale in bench.get("scales", []):
        key = f"{scale:g}x"
        if "B1" in figures and key not in figures["B1"]:
            out.append(f"- B1 {key}: not in this JSON (the run had not finished it)")
    for fig, body in sorted(figures.items()):
        for key, val in (body.items() if isinstance(body, dict) else []):
            if isinstance(val, dict) and val.get("status") in ("unavailable", "failed", "skipped"):
                out.append(f"- {fig} {key}: {val['status']} — {val.get('reason', '')}")
        if isinstance(body, dict) and body.get("status") in ("unavailable", "failed", "skipped"):
            out.append(f"- {fig}: {body['status']} — {body.get('reason', '')}")
    return out


def _probe(m: dict) -> str:
    """The machine's speed during the run (``harness.cpu_probe_s``), when the JSON has it."""
    if "cpu_probe_s" not in m:
        return ""
    end = f", {m['cpu_probe_end_s']:.3f} s at the end" if "cpu_probe_end_s" in m else ""
    return f"; CPU probe {m['cpu_probe_s']:.3f} s at the start{end} (lower is faster)"


def render(bench: dict) -> str:
    m = bench.get("machine", {})
    parts = [
        f"Measured {m.get('date', '?')} with `{bench.get('command', 'fitlake bench')}` on {m.get('cores')} cores, "
        f"{m.get('memory_gb')} GiB ({m.get('cpu', '?')}; load average at start "
        f"{', '.join(str(x) for x in m.get('load_avg_at_start', []))}{_probe(m)}); "
        f"pyspark {m.get('versions', {}).get('pyspark')}, "
        f"delta-spark {m.get('versions', {}).get('delta-spark')}, duckdb {m.get('versions', {}).get('duckdb')}. "
        f"Total bench time {_fmt(bench.get('total_s'))} s.",
        "",
        headline_table(bench),
    ]
    for title, table in (("Per stage (B1)", stage_table(bench)), ("Streaming (B4)", streaming_table(bench))):
        if table:
            parts += ["", f"{title}:", "", table]
    gaps = unavailable(bench)
    if gaps:
        parts += ["", "Not measured in this run:", "", *gaps]
    return "\n".join(parts) + "\n"


def render_headline(bench: dict) -> str:
    """The figures that have a target, under one line saying when, with what and on what they were measured."""
    m = bench.get("machine", {})
    return (f"`{bench.get('command', 'fitlake bench')}`, {m.get('date', '?')[:10]}, {m.get('cores')} cores, load "
            f"average at start {', '.join(str(x) for x in m.get('load_avg_at_start', []))}{_probe(m)}:\n\n"
            f"{headline_table(bench, targets_only=True)}\n")


def render_block(bench: dict, kind: str | None) -> str:
    return render_headline(bench) if kind == "headline" else render(bench)


def update_readme(readme: Path, bench: dict, source: str | None = None) -> None:
    """Replace the block whose marker names ``source`` (by file name), else the unnamed block, with ``bench``
    rendered the way that block asks (``render_block``)."""
    text = readme.read_text()
    blocks = list(BLOCK.finditer(text))
    name = Path(source).name if source else None
    chosen = next((m for m in blocks if name and m["source"] and Path(m["source"]).name == name), None)
    chosen = chosen or next((m for m in blocks if m["source"] is None), None)
    begin = None
    if chosen is None and blocks and source:  # a new run: it takes the first block, and the marker names it
        chosen, begin = blocks[0], f"<!-- bench:begin {_relative(source)} -->"
    if chosen is None:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} markers")
    begin = begin or text[chosen.start():chosen.start("body")].rstrip("\n")
    markdown = render_block(bench, chosen["kind"])
    readme.write_text(f"{text[:chosen.start()]}{begin}\n{markdown}{END}{text[chosen.end():]}")


def _relative(source: str) -> str:
    path = Path(source).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else source


def check(doc: Path, repo: Path = REPO) -> list[str]:
    """Every named block of ``doc`` that differs from its JSON rendered today (empty list: the page is current)."""
    problems = []
    for m in BLOCK.finditer(doc.read_text()):
        if m["source"] is None:
            problems.append(f"{doc}: a bench block names no JSON, so it cannot be checked")
            continue
        path = repo / m["source"]
        if not path.is_file():
            problems.append(f"{doc}: {m['source']} does not exist")
        elif m["body"] != render_block(json.loads(path.read_text()), m["kind"]):
            problems.append(f"{doc}: the block from {m['source']} differs from its JSON rendered today; rerun "
                            f"python -m benchmarks.report {m['source']} --doc {doc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    p.add_argument("bench_json", nargs="?")
    p.add_argument("--doc", "--readme", dest="readme", default=None, help="markdown page whose bench markers to update")
    p.add_argument("--check", default=None, metavar="DOC", help="fail when a named block of DOC drifted from its JSON")
    args = p.parse_args(argv)
    if args.check:
        problems = check(Path(args.check))
        print("\n".join(problems) or f"{args.check}: every bench block matches its JSON")
        return 1 if problems else 0
    if not args.bench_json:
        p.error("bench_json is required unless --check is given")
    bench = json.loads(Path(args.bench_json).read_text())
    if args.readme:
        update_readme(Path(args.readme), bench, args.bench_json)
    else:
        sys.stdout.write(render(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
