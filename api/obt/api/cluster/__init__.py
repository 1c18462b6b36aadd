"""Cluster mode (`OBT_KUBE__ENABLED=true`): leader election, standalone CRs + Leases, wiring."""
