"""Kaden agent service."""
