"""One normal form for model names, as Ollama's own `ollama list` shows them."""

from __future__ import annotations

import pytest

from obt.core.model_names import normalize_model_name, strip_default_prefixes


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("llama3.2:latest", "llama3.2:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("  llama3.2  ", "llama3.2:latest"),
        ("library/llama3.2", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("Registry.Ollama.AI/library/qwen2.5:7b", "qwen2.5:7b"),
        ("registry.ollama.ai/myuser/tiny", "myuser/tiny:latest"),
        ("myuser/tiny", "myuser/tiny:latest"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:latest",
        ),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        ("localhost:5000/team/model", "localhost:5000/team/model:latest"),
        ("llama3.2@sha256:abc", "llama3.2:latest@sha256:abc"),
        ("", ""),
    ],
)
def test_names_normalise_like_ollama_list(given: str, normal: str) -> None:
    assert normalize_model_name(given) == normal
    assert normalize_model_name(normal) == normal  # idempotent


def test_search_terms_lose_only_the_default_prefixes() -> None:
    assert strip_default_prefixes("registry.ollama.ai/library/llama3") == "llama3"
    assert strip_default_prefixes("library/llama3") == "llama3"
    assert strip_default_prefixes("llama3") == "llama3"
    assert strip_default_prefixes("hf.co/u/m") == "hf.co/u/m"
