"""Real components for tests: nats-server processes, PostgreSQL databases, keyvault servers."""
