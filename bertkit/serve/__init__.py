"""`bertkit serve`: trained model folders behind an HTTP endpoint with dynamic batching (the `serve` extra)."""
