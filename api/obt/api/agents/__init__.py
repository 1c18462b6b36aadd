"""Agent ingress for standalone hosts: enrollment, reports and heartbeats."""
