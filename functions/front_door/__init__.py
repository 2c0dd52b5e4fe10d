"""Front door: authenticates, validates and deduplicates requests, then publishes them to the hub."""
