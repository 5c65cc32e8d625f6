"""Kaden reporting service."""
