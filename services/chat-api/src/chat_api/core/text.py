"""Text that is stored must be text PostgreSQL can store: it refuses NUL characters in text columns.

Used as a schema `pattern`, so the rule is in the OpenAPI document and a NUL is a 422, not a 500.
"""

from __future__ import annotations

__all__ = ["NO_NUL"]

NO_NUL = r"^[^\x00]*$"
