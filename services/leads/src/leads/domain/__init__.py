"""The leads domain: pure rules, no I/O (row parsing, number normalisation, lead status)."""
