"""Silver: typed, validated, de-duplicated tables, upserted from bronze with MERGE; failures go to quarantine."""
