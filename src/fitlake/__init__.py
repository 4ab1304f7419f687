"""fitlake: a Delta Lake lakehouse for fitness-tracker analytics."""

__version__ = "0.1.0"
