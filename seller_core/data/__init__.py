"""Raw-dump ingestion, filtering, splitting and category sequences."""
