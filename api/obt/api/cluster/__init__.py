"""Cluster mode (`OBT_KUBE__ENABLED=true`): the OllamaNode mirror, leader election, standalone CRs
+ Leases, wiring."""
