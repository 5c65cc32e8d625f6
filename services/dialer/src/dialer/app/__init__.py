"""Use cases of the dialer: API commands, event handlers and the dialing loop."""
