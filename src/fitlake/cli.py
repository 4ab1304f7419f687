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
    "run": ("fitlake.pipeline", "run the batch job graph: ingest -> silver -> gold (-> train -> score)"),
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        _top_parser().parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"fitlake {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
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
