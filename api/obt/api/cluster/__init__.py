"""Cluster mode (`OBT_API__CLUSTER__ENABLED=true`): the OllamaNode mirror, leader election, standalone CRs
+ Leases, wiring."""
