"""Gold: the star schema and KPIs, updated from silver changes by keyed MERGE."""
