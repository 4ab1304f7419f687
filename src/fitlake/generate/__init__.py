"""Deterministic synthetic data for fitlake: a landing folder of activity JSON records and Fitbit-format exports
(:func:`generate_landing`) and live device events for the streaming job (:func:`generate_events`).

Design, in short (details in docs/data.md, "Synthetic data"):

* Users are drawn around five latent archetypes (``personas.PERSONAS``); the archetype of each user is written to
  the manifest only. Each day is simulated for all users at once from per-hour minutes in Fitbit's intensity
  classes, so daily totals equal hourly sums by construction (``simulate``).
* Randomness: users from ``default_rng([seed, 0])``, day ``i`` from ``default_rng([seed, 1, i])``, its defects from
  ``default_rng([seed, 2, i])``; files are written in a fixed order and the manifest holds no wall-clock values, so
  the same arguments give byte-identical output, also when days are written by two worker processes.
* Defects (``landing``): every record gets at most one, with probability ``defect_rate``; each is listed in
  ``_manifest.json`` with the file, 1-based line (CSV header = line 1) and the expected pipeline outcome.
"""

from fitlake.generate.events import generate_events
from fitlake.generate.landing import MANIFEST, generate_landing

__all__ = ["generate_landing", "generate_events", "MANIFEST"]
