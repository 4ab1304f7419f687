"""Operating the lakehouse: table maintenance (``maintain``) and erasure of a person's data (``forget``)."""
