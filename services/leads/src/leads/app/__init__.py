"""Use cases of the leads service: command handlers for the API, workers and consumers."""
