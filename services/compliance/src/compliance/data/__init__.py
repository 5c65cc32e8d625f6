"""Bundled datasets (see README.md)."""
