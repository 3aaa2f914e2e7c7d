"""One adapter per provider wire format; `registry.build_adapters` makes them from Settings."""
