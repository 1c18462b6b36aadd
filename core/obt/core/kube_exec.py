"""Kubeconfig exec credential plugins (`users[].user.exec`), as kubectl runs them.

Managed clusters hand out kubeconfigs whose user is a program: `aws eks get-token`,
`gke-gcloud-auth-plugin`, `kubelogin`. The program prints an `ExecCredential`
(client.authentication.k8s.io/v1 or v1beta1) with a bearer token or a client certificate and
key, and usually an `expirationTimestamp`. `ExecPlugin` runs it without a terminal (stdin closed:
`interactiveMode` Never and IfAvailable work, Always is refused with a clear message), keeps the
credential until it expires, and runs the program again after that or when the API server
answers 401 (`invalidate`).

The deprecated `auth-provider` plugins (gcp, azure, oidc) are not run: `obt.core.kube` refuses
them and names the exec plugin that replaced each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
RUN_TIMEOUT_SECONDS = 120.0
"""A plugin may open a browser-less device flow or call a cloud API; kubectl waits without a
limit, we give up after two minutes with a message rather than hang the caller forever."""


class ExecPluginError(RuntimeError):
    """The plugin could not be run, failed, or printed no usable credential."""


@dataclass
class ExecCredential:
    token: str | None = None
    client_certificate_data: str | None = None
    client_key_data: str | None = None
    expires_at: float | None = None  # seconds since the epoch; None: valid until a 401


@dataclass
class ExecPlugin:
    command: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    api_version: str = API_VERSIONS[0]
    interactive_mode: str = "IfAvailable"
    install_hint: str | None = None
    base: Path = field(default_factory=Path.cwd)  # the kubeconfig's folder
    user: str = ""
    clock: Callable[[], float] = time.time  # tests pass their own
    runs: int = 0
    _credential: ExecCredential | None = field(default=None, repr=False)

    @classmethod
    def from_kubeconfig(cls, spec: dict[str, Any], base: Path, user: str) -> ExecPlugin:
        where = f"user {user!r}: exec"
        command = spec.get("command")
        if not command or not isinstance(command, str):
            raise ExecPluginError(f"{where}.command is missing")
        api_version = spec.get("apiVersion") or ""
        if api_version not in API_VERSIONS:
            raise ExecPluginError(
                f"{where}.apiVersion {api_version!r} is not supported: use one of "
                + ", ".join(API_VERSIONS)
            )
        mode = spec.get("interactiveMode") or "IfAvailable"
        if mode not in ("Never", "IfAvailable", "Always"):
            raise ExecPluginError(
                f"{where}.interactiveMode {mode!r} is not one of Never, IfAvailable, Always"
            )
        if mode == "Always":
            raise ExecPluginError(
                f"{where}.interactiveMode is Always: the plugin needs a terminal, which a "
                "service never has; log in with the plugin first (or use a plugin mode that "
                "caches its login) and set interactiveMode to IfAvailable or Never"
            )
        env = {}
        for entry in spec.get("env") or []:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ExecPluginError(f"{where}.env: each entry needs a name and a value")
            env[str(entry["name"])] = str(entry.get("value", ""))
        return cls(
            command=command,
            args=[str(a) for a in spec.get("args") or []],
            env=env,
            api_version=api_version,
            interactive_mode=mode,
            install_hint=spec.get("installHint"),
            base=base,
            user=user,
        )

    def credential(self) -> ExecCredential:
        """The cached credential, or a fresh one when there is none or it has expired."""
        cached = self._credential
        if cached is not None and (cached.expires_at is None or self.clock() < cached.expires_at):
            return cached
        self._credential = self._run()
        return self._credential

    def invalidate(self) -> None:
        """Forget the credential (the API server refused it): the next request runs the plugin."""
        self._credential = None

    def _executable(self) -> str:
        # kubectl: a command with a path separator is relative to the kubeconfig's folder.
        if os.sep in self.command or (os.altsep and os.altsep in self.command):
            path = Path(self.command)
            return str(path if path.is_absolute() else self.base / path)
        found = shutil.which(self.command)
        if found is None:
            hint = f" ({self.install_hint.strip()})" if self.install_hint else ""
            raise ExecPluginError(
                f"user {self.user!r}: exec plugin {self.command!r} is not on PATH{hint}"
            )
        return found

    def _run(self) -> ExecCredential:
        info = {
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        environ = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
        argv = [self._executable(), *self.args]
        name = f"user {self.user!r}: exec plugin {self.command!r}"
        self.runs += 1
        try:
            done = subprocess.run(
                argv,
                env=environ,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_SECONDS,
                check=False,
            )
        except FileNotFoundError as exc:
            hint = f" ({self.install_hint.strip()})" if self.install_hint else ""
            raise ExecPluginError(f"{name} was not found: {argv[0]}{hint}") from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ExecPluginError(f"{name} could not run: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-500:]
            raise ExecPluginError(f"{name} exited with status {done.returncode}: {tail}")
        return self._parse(done.stdout, name)

    def _parse(self, text: str, name: str) -> ExecCredential:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ExecPluginError(f"{name} printed no ExecCredential JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
            raise ExecPluginError(f"{name} printed something other than an ExecCredential")
        if document.get("apiVersion") != self.api_version:
            raise ExecPluginError(
                f"{name} answered apiVersion {document.get('apiVersion')!r}, but the kubeconfig "
                f"asked for {self.api_version!r}"
            )
        status = document.get("status")
        if not isinstance(status, dict):
            raise ExecPluginError(f"{name}: the ExecCredential has no status")
        credential = ExecCredential(
            token=status.get("token") or None,
            client_certificate_data=status.get("clientCertificateData") or None,
            client_key_data=status.get("clientKeyData") or None,
        )
        if credential.token is None and (
            credential.client_certificate_data is None or credential.client_key_data is None
        ):
            raise ExecPluginError(
                f"{name}: the ExecCredential's status holds neither a token nor both "
                "clientCertificateData and clientKeyData"
            )
        stamp = status.get("expirationTimestamp")
        if stamp:
            try:
                expires = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError as exc:
                raise ExecPluginError(
                    f"{name}: expirationTimestamp {stamp!r} is not an RFC 3339 time"
                ) from exc
            credential.expires_at = expires.timestamp()
        return credential
