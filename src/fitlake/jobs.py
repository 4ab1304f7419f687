"""Wheel entry points for the bundle's python_wheel_task tasks: thin, they only call the CLI's commands."""

from __future__ import annotations

import sys

from fitlake.cli import main as cli_main


def _run(*prefix: str) -> None:
    sys.exit(cli_main([*prefix, *sys.argv[1:]]))


def ingest() -> None:
    _run("run", "--stage", "ingest")


def silver() -> None:
    _run("run", "--stage", "silver")


def gold() -> None:
    _run("run", "--stage", "gold")


def score() -> None:
    _run("score")


def stream() -> None:
    _run("stream")


def maintain() -> None:
    _run("maintain")
