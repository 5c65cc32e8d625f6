"""Kaden tenant simulator."""
