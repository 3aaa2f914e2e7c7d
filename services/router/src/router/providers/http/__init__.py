"""HTTP plumbing every adapter shares: the client, reading bodies and streams, and error mapping.

Nothing raised from here carries the API key, a header or the httpx request: provider text goes
through `scrub`, and transport failures are re-raised outside the `except` block, so the httpx
exception (whose request holds the auth header) is neither the cause nor the context.
"""
