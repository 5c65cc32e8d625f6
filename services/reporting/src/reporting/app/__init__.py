"""Use cases: the projection (consumer) and the KPI queries (API)."""
