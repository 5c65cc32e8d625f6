"""Adapters of the leads service (database tables)."""
