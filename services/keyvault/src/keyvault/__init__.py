"""keyvault: the only holder of the RSA private keys; decrypts provider keys for the router."""
