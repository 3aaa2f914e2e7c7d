"""Per-user rate limits, the request body size limit and the size limits of a chat request."""
