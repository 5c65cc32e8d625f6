"""HTTP API of the dialer."""
