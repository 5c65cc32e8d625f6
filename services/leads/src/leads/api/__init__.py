"""HTTP API of the leads service (all under ``/v1``, tenant from the bearer token)."""
