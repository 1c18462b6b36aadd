"""Model names as Ollama treats them: one normal form for every filter, path and page.

Ollama names a model `[host/][namespace/]model[:tag]`, with the defaults `registry.ollama.ai`,
`library` and `latest` (its types/model/name.go), and lists models in the shortest form that
means the same: `/api/tags` says `llama3.2:latest` for `llama3.2`, for
`library/llama3.2` and for `registry.ollama.ai/library/llama3.2:latest`. The agent stores that
form, so a person's `llama3.2` must become `llama3.2:latest` before it is compared with it.
"""

from __future__ import annotations

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"


def strip_default_prefixes(name: str) -> str:
    """'registry.ollama.ai/library/llama3.2' -> 'llama3.2'; other hosts and namespaces stay
    ('hf.co/bartowski/x', 'myuser/x'). Used alone for substring search, where adding a tag
    would narrow what matches."""
    parts = name.strip().split("/")
    if len(parts) == 3 and parts[0].lower() == DEFAULT_HOST:
        parts = parts[1:]
    if len(parts) == 2 and parts[0].lower() == DEFAULT_NAMESPACE:
        parts = parts[1:]
    return "/".join(parts)


def normalize_model_name(name: str) -> str:
    """The name as `ollama list` shows it: default host and namespace dropped, ':latest' added
    when no tag is given. 'llama3.2' -> 'llama3.2:latest'; 'hf.co/u/m' -> 'hf.co/u/m:latest';
    a digest suffix ('@sha256:...') is kept. A colon in the host ('localhost:5000/m') is not a tag.
    Empty input stays empty."""
    text = name.strip()
    if not text:
        return text
    base, at, digest = text.partition("@")
    base = strip_default_prefixes(base)
    last = base.rsplit("/", 1)[-1]
    if last and ":" not in last:
        base = f"{base}:{DEFAULT_TAG}"
    return base + at + digest
