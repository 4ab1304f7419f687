"""tests/output_excerpt.py: a failed subprocess's assertion message keeps its first error lines and its tail."""

from output_excerpt import failure_excerpt


def _spark_submit_failure() -> str:
    progress = "".join(f"  silver  silver.table_{i}: 12 rows in 0.4 s\n" for i in range(60))
    traceback = ('Traceback (most recent call last):\n  File "/x/tasks.py", line 9, in <module>\n    main()\n'
                 "pyspark.errors.exceptions.captured.AnalysisException: [TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create "
                 "table `delta`.`/lake/gold/fact_daily_activity` because it already exists. SQLSTATE: 42P07\n"
                 "\nJVM stacktrace:\norg.apache.spark.sql.catalyst.analysis.TableAlreadyExistsException: "
                 "[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table\n")
    frames = "".join(f"\tat org.apache.spark.sql.Frame{i}.apply(Frame.scala:{i})\n" for i in range(400))
    return progress + traceback + frames + "\t... 123 more\njob fitlake_batch: task gold failed with exit code 1\n"


def test_the_first_exception_line_survives_a_long_jvm_stack():
    text = _spark_submit_failure()
    assert len(text) > 20_000
    out = failure_excerpt(text)
    assert len(out) < 8_000
    assert "AnalysisException: [TABLE_OR_VIEW_ALREADY_EXISTS]" in out  # the head: what went wrong
    assert "TableAlreadyExistsException" in out
    assert out.endswith("task gold failed with exit code 1\n")  # the tail: where the run stopped
    head = out.split("[...]")[0]
    assert "\tat org.apache" not in head  # frames are left out of the head
    # the old message, the last 4,000 characters, had only frames and the last line
    assert "AnalysisException" not in text[-4000:]


def test_short_output_is_kept_whole_and_no_error_means_tail_only():
    assert failure_excerpt("boom\n") == "boom\n"
    text = "".join(f"line {i}\n" for i in range(2000))
    out = failure_excerpt(text)
    assert "[first error lines]" not in out and out.endswith("line 1999\n")
