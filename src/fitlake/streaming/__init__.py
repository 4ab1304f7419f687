"""Live events: files or Kafka -> bronze -> silver -> 30 s windows + goal alerts (see ``job.py``)."""
