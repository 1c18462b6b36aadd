"""Settings base shared by every component.

Each component defines its own `BaseSettings` subclass of `ObtSettings`, read from environment
variables with the `OBT_` prefix and `__` between nested groups, e.g. `OBT_LOG__FORMAT=json`.
Secrets are `SecretStr` and come only from the environment (or a mounted file via *_FILE).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LogSettings(BaseModel):
    level: LogLevel = Field("INFO", description="Minimum level logged.")
    format: LogFormat = Field("text", description="'text' for people, 'json' for log collectors.")


class ObtSettings(BaseSettings):
    """Base for component settings: environment prefix OBT_, nested groups joined by '__'."""

    model_config = SettingsConfigDict(
        env_prefix="OBT_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
