"""Adapters of the dialer: database tables and the telephony gateway."""
