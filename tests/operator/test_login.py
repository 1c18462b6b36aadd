"""The operator's kopf login (`startup.login`) with a kubeconfig whose user is an exec credential
plugin, as `obt operator` run from a laptop against a managed cluster has: kopf gets the plugin's
token, and each login (kopf logs in again after a 401) runs the plugin afresh."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest

from obt.operator import startup
from obt.operator.settings import OperatorSettings
from tests.core.test_kube_exec import exec_user, runs, write_kubeconfig


async def test_login_hands_kopf_the_exec_plugins_token_and_renews_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path, "http://127.0.0.1:1", exec_user(tmp_path))
    monkeypatch.setenv("OBT_KUBE__KUBECONFIG", str(path))
    memo = kopf.Memo(obt_settings=OperatorSettings())
    first = await startup.login(memo)
    assert (first.scheme, first.token, first.server) == ("Bearer", "tok-1", "http://127.0.0.1:1")
    second = await startup.login(memo)  # kopf's next login, after the server refused tok-1
    assert second.token == "tok-2"
    assert runs(tmp_path) == 2
