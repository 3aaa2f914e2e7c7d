"""Developer tooling for Switchyard: dev PKI, proto generation, the `make dev` supervisor."""
