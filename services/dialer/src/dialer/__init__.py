"""Kaden dialer service."""
