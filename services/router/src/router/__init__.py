"""router: the only service that calls AI providers."""
