"""What a failing subprocess's output shows in an assertion message: its first error lines AND its tail.

Keeping only the tail of a failed spark-submit can lose the one line that matters: a Python traceback ends with
``pyspark.errors.exceptions.captured.AnalysisException: [CODE] message`` and is then followed by hundreds of lines of
JVM stack ("JVM stacktrace: ... at org.apache.spark..."), so the last few thousand characters hold only ``at ...``
frames (tests/bundle/test_standin_run.py lost its AnalysisException's first line that way in a fresh-clone run).
"""

from __future__ import annotations

import re

# the first line that says what went wrong: an exception with its message (Python's or the JVM's), else a log4j ERROR
# line or a traceback's start
_EXCEPTION = re.compile(r"^\s*(Caused by: )?[\w.$]*(Error|Exception)\w*: .*$", re.MULTILINE)
_FALLBACK = re.compile(r"^(.*\bERROR\b.*|Traceback \(most recent call last\):)$", re.MULTILINE)
# frames of a JVM stack say where, not what
_FRAME = re.compile(r"^\s*(at |\.\.\. \d+ more)")


def failure_excerpt(text: str, head_lines: int = 25, tail_chars: int = 3000) -> str:
    """``text`` whole when short; else the lines from its first exception line (``head_lines`` of them, JVM
    frames left out) and its last ``tail_chars`` characters, with a marker saying what was cut."""
    if len(text) <= tail_chars + 2000:
        return text
    tail_start = len(text) - tail_chars
    head: list[str] = []
    first = _EXCEPTION.search(text) or _FALLBACK.search(text)
    if first is not None and first.start() < tail_start:  # else the tail shows it
        for line in text[first.start():tail_start].splitlines():
            if not _FRAME.match(line):
                head.append(line)
            if len(head) >= head_lines:
                break
    parts = []
    if head:
        parts += ["[first error lines]", *head, "[...]"]
    parts += [f"[last {tail_chars} of {len(text)} characters]", text[tail_start:]]
    return "\n".join(parts)
