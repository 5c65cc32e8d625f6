"""Database adapters of the reporting service."""
