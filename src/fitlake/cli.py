"""The ``fitlake`` command. Each subcommand lives in its own module (``add_arguments(parser)`` + ``main(args)``)
and is imported only when used, so ``fitlake --help`` is instant and one room's import errors stay in its room."""

from __future__ import annotations

import argparse
import importlib
import sys

from fitlake import __version__

# name -> (module, one-line help). The module defines add_arguments(parser) and main(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("fitlake.doctor", "check Java, the jar cache and Delta: write and MERGE a tiny table"),
    "jars": ("fitlake.jars_cli", "resolve the JVM jars from Maven Central into the project-local cache"),
    "generate": ("fitlake.generate.cli", "write a deterministic synthetic landing folder (activity + Fitbit export)"),
    "generate-events": ("fitlake.generate.events_cli", "write live device events as small JSON files"),
    "run": ("fitlake.pipeline", "run the batch job graph: ingest -> silver -> gold"),
    "stream": ("fitlake.streaming.cli", "run the streaming job: events -> 30 s windows -> goal alerts"),
    "produce": ("fitlake.streaming.produce", "replay Fitbit rows or live events to a Kafka topic"),
    "train": ("fitlake.ml.cli_train", "train the MLlib models, track and register them in MLflow"),
    "score": ("fitlake.ml.cli_score", "score the @champion models into gold tables"),
    "bundle": ("fitlake.bundle_cli", "run a job of databricks.yml locally, task by task"),
    "dashboard": ("fitlake.dashboard.cli", "start the Streamlit dashboard on 127.0.0.1"),
    "bench": ("fitlake.bench_cli", "run the benchmarks and write bench.json"),
}
COMMANDS["maintain"] = ("fitlake.ops.maintain", "OPTIMIZE, VACUUM (7 days) and log clean-up of every table")
COMMANDS["forget"] = ("fitlake.ops.forget", "erase one user from every table, suppress them, vacuum their files")
COMMANDS["import"] = ("fitlake.import_export", "put a Fitbit export (folder or .zip) in landing/fitbit/<name>/")
COMMANDS["serve"] = ("fitlake.ml.serve", "serve a @champion model on 127.0.0.1 (MLflow /invocations)")

# name -> example command lines, shown under "examples:" in ``fitlake <name> --help`` (tests/test_docs.py parses each
# with the real parser, so an example that drifts from the options fails the suite).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "doctor": ("fitlake doctor",),
    "jars": ("fitlake jars", "fitlake jars kafka"),
    "generate": ("fitlake generate --users 200 --days 30 --out lakehouse/landing",
                 "fitlake generate --scale 10 --out /tmp/l10x"),
    "generate-events": ("fitlake generate-events --out lakehouse/landing --rate 50/s --duration 60 --no-realtime",),
    "run": ("fitlake run", "fitlake run --root /tmp/mylake --no-generate", "fitlake run --date-order day_first --strict",
            "fitlake run --stage gold --lock-timeout 60"),
    "stream": ("fitlake stream --available-now", "fitlake stream --trigger 5s --until 60s",
               "fitlake stream --source kafka --bootstrap 127.0.0.1:9092 --available-now"),
    "produce": ("fitlake produce --bootstrap 127.0.0.1:9092 --events lakehouse/landing/events",),
    "train": ("fitlake train", "fitlake train --model calories --force"),
    "score": ("fitlake score",),
    "bundle": ("fitlake bundle validate", "fitlake bundle run fitlake_batch --target local --dry-run"),
    "dashboard": ("fitlake dashboard", "fitlake dashboard --root /tmp/mylake --port 8600 --headless"),
    "bench": ("fitlake bench --quick", "fitlake bench --only B1,B2 --workdir /tmp/fitbench --keep"),
    "maintain": ("fitlake maintain", "fitlake maintain --root /tmp/mylake --retain-hours 336"),
    "forget": ("fitlake forget --user 1503960366",),
    "import": ("fitlake import ~/Downloads/fitbit_export.zip", "fitlake import ./my-export --name 2016-04 --root /tmp/mylake"),
    "serve": ("fitlake serve --model calories", "fitlake serve --model calories_fitbit --port 5002"),
}


def examples_epilog(name: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES.get(name, ()))


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fitlake",
        description="A Delta Lake lakehouse for fitness-tracker analytics.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<16} {h}" for n, (_, h) in COMMANDS.items()),
    )
    parser.add_argument("--version", action="version", version=f"fitlake {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of the commands below")
    return parser


def build_parser(name: str, module=None) -> argparse.ArgumentParser:
    """The parser of ``fitlake <name>``, with its examples as the help epilog."""
    module_name, help_text = COMMANDS[name]
    module = module or importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"fitlake {name}", description=help_text, epilog=examples_epilog(name),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    args = build_parser(name, module).parse_args(rest)
    from fitlake.errors import UserFacingError

    try:
        return int(module.main(args) or 0)
    except UserFacingError as e:
        print(f"fitlake {name}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fitlake {name}: interrupted; rerun to continue where it stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
