"""The OllamaNode mirror: Kubernetes -> SQL (cluster mode). See mirror/mirror.py."""
