"""fitlake benchmarks: `fitlake bench` (run.py), the tables of docs/performance.md (report.py)."""
