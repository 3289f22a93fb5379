"""Clients for outside services; they import only settings, the standard library and their SDKs."""
