"""What a completion cost, from the router catalog's per-million-token prices."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from switchyard.router.v1 import router_pb2

__all__ = ["cost_usd", "find_model"]

_MILLION = Decimal(1_000_000)
# The usage_records column keeps 8 decimal places.
_PLACES = Decimal("0.00000001")


def find_model(catalog: Iterable[router_pb2.Model], model_id: str) -> router_pb2.Model | None:
    """The catalog entry with this id, or None."""
    return next((model for model in catalog if model.id == model_id), None)


def cost_usd(model: router_pb2.Model | None, *, input_tokens: int, output_tokens: int) -> Decimal:
    """Input and output tokens at the model's list prices; zero for a model missing from the catalog."""
    if model is None:
        return Decimal(0)
    # str() first: the prices are doubles, and Decimal(0.75) would carry the binary rounding error.
    input_price = Decimal(str(model.input_price_per_mtok))
    output_price = Decimal(str(model.output_price_per_mtok))
    total = (input_price * input_tokens + output_price * output_tokens) / _MILLION
    return total.quantize(_PLACES)
