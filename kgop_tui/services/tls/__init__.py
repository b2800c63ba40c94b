"""TLS: certificates and ACME."""
