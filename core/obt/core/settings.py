"""Settings base shared by every component.

Each component defines its own `BaseSettings` subclass of `ObtSettings`, read from environment
variables with the `OBT_` prefix and `__` between nested groups, e.g. `OBT_LOG__FORMAT=json`.
Secrets are `SecretStr` and come only from the environment, or from a file: any setting `X`
may be given as `X_FILE=/path` instead (Kubernetes and Docker mount secrets as files), e.g.
`OBT_API__ADMIN_TOKEN_FILE=/run/secrets/admin-token`; one trailing newline is dropped. Setting
both `X` and `X_FILE` is an error, and so is a file that cannot be read.

`unknown_variables()` finds `OBT_*` variables that no setting reads (a typo is otherwise
silently ignored); each component's command warns about them at start.

Naming (docs/settings.md): each component reads its own group, `OBT_AGENT__*`, `OBT_OPERATOR__*`,
`OBT_API__*`; what several components share is a top-level group defined here or next to its
users: `OBT_LOG__*`, `OBT_KUBE__*` (`KubeSettings`: kubeconfig, context, namespace, identity; the
operator and the API), `OBT_DATABASE__*`. Durations end in `_SECONDS`. A renamed setting keeps
working for one release: `RENAMED` maps its old name to the new one, the old name sets the new
field and logs one deprecation warning naming both (the new one wins when both are set).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import socket
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

PREFIX = "OBT_"
FILE_SUFFIX = "_FILE"

# OBT_* variables that are not settings of any component, so no warning names them.
OTHER_VARIABLES = frozenset(
    {
        "OBT_SERVER",  # the API that `obt token`, `obt nodes` and `obt models` talk to
        "OBT_TOKEN",  # the credential those commands send (--token)
        "OBT_HOST_IP",  # the chart's agent env: expanded into OBT_AGENT__OLLAMA_URL
        "OBT_DATABASE_PASSWORD",  # the chart's API env: expanded into OBT_DATABASE__URL
        # The chart's downward-API variables, given to every pod; the agent reads them.
        "OBT_NODE_NAME",
        "OBT_POD_NAME",
        "OBT_POD_NAMESPACE",
        "OBT_API_URL",  # the dashboard's dev server proxy target (frontend/vite.config.ts)
        "OBT_CHROMIUM",  # the browser of the Playwright suite and the dashboard bench
        "OBT_TEST_DIST",  # tests/packaging: the dist/ folder `make dist` wrote
    }
)
OTHER_PREFIXES = ("OBT_E2E_",)  # the Playwright suite's own variables
# Variables that once were settings: what to do instead.
REMOVED_VARIABLES = {
    "OBT_MODE": "it never did anything and was removed: `obt serve` is local mode, and "
    "`obt api` runs cluster mode when OBT_API__CLUSTER__ENABLED=true; unset OBT_MODE",
}

# Renamed settings, old name -> new name, read under the old name for one release (0.x) with a
# deprecation warning. An entry that names a group (OBT_LIVENESS) also renames every variable
# below it (OBT_LIVENESS__REMOVE_AFTER_SECONDS) and the group given whole as JSON.
RENAMED: dict[str, str] = {
    # agent: durations end in _SECONDS
    "OBT_AGENT__INTERVAL": "OBT_AGENT__INTERVAL_SECONDS",
    "OBT_AGENT__HARDWARE_INTERVAL": "OBT_AGENT__HARDWARE_INTERVAL_SECONDS",
    "OBT_AGENT__HEARTBEAT_INTERVAL": "OBT_AGENT__HEARTBEAT_INTERVAL_SECONDS",
    "OBT_AGENT__API_CHECK_INTERVAL": "OBT_AGENT__API_CHECK_INTERVAL_SECONDS",
    "OBT_AGENT__REQUEST_TIMEOUT": "OBT_AGENT__REQUEST_TIMEOUT_SECONDS",
    "OBT_AGENT__MAX_BACKOFF": "OBT_AGENT__MAX_BACKOFF_SECONDS",
    # operator: its own settings in OBT_OPERATOR__, the shared ones in OBT_KUBE__
    "OBT_NAMESPACE": "OBT_KUBE__NAMESPACE",
    "OBT_IDENTITY": "OBT_KUBE__IDENTITY",
    "OBT_LISTEN": "OBT_OPERATOR__LISTEN",
    "OBT_AGENT_SELECTOR": "OBT_OPERATOR__AGENT_SELECTOR",
    "OBT_LEADER": "OBT_OPERATOR__LEADER",
    "OBT_LIVENESS": "OBT_OPERATOR__LIVENESS",
    "OBT_KUBE__REQUEST_TIMEOUT_SECONDS": "OBT_OPERATOR__REQUEST_TIMEOUT_SECONDS",
    # API: durations end in _SECONDS; its own Kubernetes settings in OBT_API__CLUSTER__
    "OBT_API__ENROLLMENT_TOKEN_TTL_S": "OBT_API__ENROLLMENT_TOKEN_TTL_SECONDS",
    "OBT_API__HEARTBEAT_FLUSH_S": "OBT_API__HEARTBEAT_FLUSH_SECONDS",
    "OBT_API__SSE_KEEPALIVE_S": "OBT_API__SSE_KEEPALIVE_SECONDS",
    "OBT_API__LIVENESS_INTERVAL_S": "OBT_API__LIVENESS__SWEEP_INTERVAL_SECONDS",
    "OBT_KUBE__ENABLED": "OBT_API__CLUSTER__ENABLED",
    "OBT_KUBE__LEADER_LEASE_NAME": "OBT_API__CLUSTER__LEADER_LEASE_NAME",
    "OBT_KUBE__LEADER_LEASE_S": "OBT_API__CLUSTER__LEADER_LEASE_SECONDS",
    "OBT_KUBE__WATCH_TIMEOUT_S": "OBT_API__CLUSTER__WATCH_TIMEOUT_SECONDS",
    "OBT_KUBE__LEASE_RENEW_MIN_S": "OBT_API__CLUSTER__LEASE_RENEW_MIN_SECONDS",
}

log = logging.getLogger("obt.settings")


class SettingsError(ValueError):
    """A setting that cannot be read; the message names the variable."""


def default_identity() -> str:
    """The pod name in a cluster (HOSTNAME), plus a random suffix: two processes never share one."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{uuid.uuid4().hex[:6]}"


class KubeSettings(BaseModel):
    """Kubernetes access and identity shared by the operator and the API (OBT_KUBE__*)."""

    kubeconfig: str | None = Field(
        None,
        description="Kubeconfig file; unset: in-cluster service account, else $KUBECONFIG or "
        "~/.kube/config.",
    )
    context: str | None = Field(None, description="Kubeconfig context; unset: its current one.")
    namespace: str = Field(
        "obt",
        description="OBT namespace: standalone hosts' heartbeat Leases, leader Leases, Events.",
    )
    identity: str = Field(
        default_factory=default_identity,
        description="This replica's name in leader Leases, Events and its User-Agent; default "
        "the pod name (HOSTNAME) plus a random suffix.",
    )


class LogSettings(BaseModel):
    level: LogLevel = Field("INFO", description="Minimum level logged.")
    format: LogFormat = Field("text", description="'text' for people, 'json' for log collectors.")


def _group(annotation: Any) -> type[BaseModel] | None:
    """The settings group a field holds (also through `X | None`), or None for a value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _group(arg)
            if found is not None:
                return found
    return None


def _is_complex(annotation: Any) -> bool:
    """Lists and dicts come as JSON, in a variable as in a file."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(a) for a in typing.get_args(annotation))
    return origin in (list, dict, set, tuple) or annotation in (list, dict, set, tuple)


def setting_fields(
    model: type[BaseModel], prefix: str = PREFIX
) -> dict[str, tuple[tuple[str, ...], FieldInfo, bool]]:
    """Every environment name `model` reads -> (field path, field, is a group). A group may be
    given whole as JSON (OBT_API='{...}') or field by field (OBT_API__PORT=8000)."""
    out: dict[str, tuple[tuple[str, ...], FieldInfo, bool]] = {}

    def walk(cls: type[BaseModel], env: str, path: tuple[str, ...]) -> None:
        for name, info in cls.model_fields.items():
            key = f"{env}{name.upper()}"
            group = _group(info.annotation)
            out[key] = ((*path, name), info, group is not None)
            if group is not None:
                walk(group, key + "__", (*path, name))

    walk(model, prefix, ())
    return out


def known_variables(models: Iterable[type[BaseModel]]) -> set[str]:
    names = set(OTHER_VARIABLES)
    for model in models:
        for env, (_, _, is_group) in setting_fields(model).items():
            names.add(env)
            if not is_group:
                names.add(env + FILE_SUFFIX)
    return names


def unknown_variables(
    models: Iterable[type[BaseModel]], environ: Mapping[str, str] | None = None
) -> list[str]:
    """One line per OBT_* variable that no setting of `models` reads: the variable and what
    was meant (the closest known setting), or why it went away."""
    environ = os.environ if environ is None else environ
    known = known_variables(models)
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or upper.startswith(OTHER_PREFIXES):
            continue
        renamed = renamed_to(upper)
        if renamed is not None and _reads(known, renamed):
            continue  # read under its new name, with its own deprecation warning
        if upper in REMOVED_VARIABLES:
            lines.append(f"{name} is set but {REMOVED_VARIABLES[upper]}")
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name} is not a setting of this command and is ignored{hint}")
    return lines


def warn_unknown_variables(
    models: Iterable[type[BaseModel]], environ: Mapping[str, str] | None = None
) -> list[str]:
    """Log a warning for each line of `unknown_variables` (called once logging is set up)."""
    lines = unknown_variables(models, environ)
    for line in lines:
        log.warning("%s", line)
    return lines


def renamed_to(name: str) -> str | None:
    """The new name of a renamed variable (also `OLD_FILE` -> `NEW_FILE` and a variable below a
    renamed group), or None."""
    upper = name.upper()
    if upper in RENAMED:
        return RENAMED[upper]
    for old, new in RENAMED.items():
        if upper.startswith(old + "__"):
            return new + upper[len(old) :]
    if upper.endswith(FILE_SUFFIX):
        base = renamed_to(upper[: -len(FILE_SUFFIX)])
        if base is not None:
            return base + FILE_SUFFIX
    return None


def translate_renamed(settings_cls: type[BaseModel], environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` (OBT_* names upper-cased) with every old name that `settings_cls` reads under
    its new name moved to the new name; each logs one deprecation warning naming both (once per
    settings object: its sources share one translation). Where both are set the new name wins,
    and the warning says so."""
    reads = known_variables([settings_cls])
    out = {k.upper(): v for k, v in environ.items() if k.upper().startswith(PREFIX)}
    for name in sorted(out):
        new = renamed_to(name)
        if new is None or not _reads(reads, new):
            continue
        value = out.pop(name)
        if new in out:
            message = "%s and %s are both set: %s wins; %s is deprecated, unset it"
            args: tuple[str, ...] = (name, new, new, name)
        else:
            out[new] = value
            message = "%s is deprecated and will stop working in the next release: use %s"
            args = (name, new)
        log.warning(message, *args)
    return out


def _reads(known: set[str], name: str) -> bool:
    """Whether a settings class whose variables are `known` reads `name` (also below a group)."""
    return name in known or any(name.startswith(k + "__") for k in known)


def _strip_newline(text: str) -> str:
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[: -len(end)]
    return text


class FileSettingsSource(PydanticBaseSettingsSource):
    """`X_FILE=/path` for any setting `X` that is a value (not a group)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None):
        super().__init__(settings_cls)
        self.environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole nested dict

    def __call__(self) -> dict[str, Any]:
        environ = {k.upper(): v for k, v in self.environ.items() if k.upper().startswith(PREFIX)}
        values: dict[str, Any] = {}
        for env, (path, info, is_group) in setting_fields(self.settings_cls).items():
            file_var = env + FILE_SUFFIX
            if is_group or file_var not in environ:
                continue
            if env in environ:
                raise SettingsError(
                    f"both {env} and {file_var} are set: set only one (the value itself, or "
                    "the file holding it)"
                )
            location = environ[file_var]
            try:
                text = _strip_newline(Path(location).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise SettingsError(
                    f"{file_var}={location}: cannot read the file: {reason}"
                ) from exc
            value: Any = text
            if _is_complex(info.annotation):
                try:
                    value = json.loads(text)
                except ValueError as exc:
                    raise SettingsError(
                        f"{file_var}={location}: the file must hold JSON for {env}: {exc}"
                    ) from exc
            target = values
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = value
        return values


class TranslatedEnvSettingsSource(EnvSettingsSource):
    """pydantic-settings' environment source over `translate_renamed`'s environment (OBT_*
    names only, renamed ones under their new names)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.translated = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self.translated.items()}


class ObtSettings(BaseSettings):
    """Base for component settings: environment prefix OBT_, nested groups joined by '__'."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = translate_renamed(settings_cls, os.environ)  # one warning per renamed name
        return (
            init_settings,
            TranslatedEnvSettingsSource(settings_cls, environ),
            FileSettingsSource(settings_cls, environ),
            dotenv_settings,
            file_secret_settings,
        )
