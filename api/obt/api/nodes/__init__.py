"""Nodes: the write path every source shares (store) and the read API (router, service)."""
