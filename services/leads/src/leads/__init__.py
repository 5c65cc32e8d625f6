"""Kaden leads service."""
