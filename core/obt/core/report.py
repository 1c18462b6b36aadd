"""What an agent reports about its machine, and the semantic digest used to skip unchanged writes.

The same `AgentReport` travels both ways an agent can report: into `OllamaNode.status` (DaemonSet
agents write it themselves) and as the body of the API's report endpoint (standalone agents).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field

from obt.core.models import AgentStatus, ContractModel, HardwareStatus, NodeSummary, OllamaStatus
from obt.core.summary import summarize


class AgentReport(ContractModel):
    """Everything the agent writes: status.hardware, status.ollama, status.agent (+ derived summary)."""

    hardware: HardwareStatus = Field(
        default_factory=HardwareStatus, description="Detected hardware."
    )
    ollama: OllamaStatus = Field(
        default_factory=OllamaStatus, description="The local Ollama server."
    )
    agent: AgentStatus = Field(default_factory=AgentStatus, description="The reporting agent.")

    def summary(self) -> NodeSummary:
        return summarize(self.hardware, self.ollama)

    def status_patch(self) -> dict[str, dict[str, Any]]:
        """The merge patch for `OllamaNode/status` that carries this report and nothing else.

        It names only the agent's own fields, so it never touches the operator's `phase` or
        `conditions` (ARCHITECTURE.md: one writer per field). Unknown fields are sent as null,
        which a JSON merge patch (RFC 7386) turns into "remove": a fact that went away (say
        `ollama.error` once Ollama answers again) does not linger in the object.
        """

        def full(model: ContractModel) -> dict[str, Any]:
            return model.model_dump(mode="json", by_alias=True)

        return {
            "status": {
                "hardware": full(self.hardware),
                "ollama": full(self.ollama),
                "agent": full(self.agent),
                "summary": full(self.summary()),
            }
        }

    def digest(self) -> str:
        """sha256 of the canonical JSON of the report: equal digests mean nothing to write."""
        canonical = json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
