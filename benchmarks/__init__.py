"""fitlake benchmarks: `fitlake bench` (run.py), the README table (report.py)."""
