"""Kaden compliance service."""
