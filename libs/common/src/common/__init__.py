"""Shared concerns of the Kaden services."""
