"""Stand-ins for the `wmi` package and `winreg`, answering from a recorded machine's windows/
folder, so that the agent's WMI path (sources/windows_queries.py) runs on Linux.

- `wmi.WMI().query(wql)`: rows of `windows/<WMI class>.json` (Get-CimInstance rows: the same
  property names WMI returns), filtered by a `WHERE Prop = 'value'` condition when there is one;
  each row is an object with the properties as attributes, as the real package returns them.
- `winreg`: the display class key's numbered subkeys from `windows/DisplayAdapterMemory.json`
  (one row per adapter key) and the Cryptography key from `windows/MachineGuid.json`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from obt.agent.sources.windows_queries import CRYPTOGRAPHY_KEY, DISPLAY_CLASS_KEY

SELECT = re.compile(
    r"^SELECT (?P<props>.+?) FROM (?P<cls>\w+)(?: WHERE (?P<prop>\w+) = '(?P<value>[^']*)')?$",
    re.IGNORECASE,
)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise FileNotFoundError(f"no recording {path.name}")
    text = path.read_text()
    data = json.loads(text) if text.strip() else []
    return [data] if isinstance(data, dict) else list(data)


class FakeWmiModule:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.queries: list[str] = []

    def WMI(self) -> FakeWmiModule:
        return self

    def query(self, wql: str) -> list[SimpleNamespace]:
        self.queries.append(wql)
        match = SELECT.match(wql)
        if match is None:
            raise ValueError(f"the fake understands no such WQL: {wql}")
        rows = _rows(self.folder / f"{match['cls']}.json")
        if match["prop"]:
            rows = [r for r in rows if str(r.get(match["prop"])).lower() == match["value"].lower()]
        return [SimpleNamespace(**row) for row in rows]


class _Key:
    def __init__(self, values: dict[str, Any], subkeys: dict[str, _Key]) -> None:
        self.values = values
        self.subkeys = subkeys

    def __enter__(self) -> _Key:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class FakeWinreg:
    HKEY_LOCAL_MACHINE = "HKLM"

    def __init__(self, folder: Path) -> None:
        adapters = {
            f"{i:04d}": _Key(row, {})
            for i, row in enumerate(_rows(folder / "DisplayAdapterMemory.json"))
        }
        adapters["Configuration"] = _Key({}, {})  # present on real machines, not an adapter
        self.keys = {DISPLAY_CLASS_KEY: _Key({}, adapters)}
        if (folder / "MachineGuid.json").exists():
            guid = _rows(folder / "MachineGuid.json")
            self.keys[CRYPTOGRAPHY_KEY] = _Key(guid[0] if guid else {}, {})

    def OpenKey(self, parent: Any, name: str) -> _Key:
        key = parent.subkeys.get(name) if isinstance(parent, _Key) else self.keys.get(name)
        if key is None:
            raise FileNotFoundError(f"[WinError 2] no registry key {name}")
        return key

    def EnumKey(self, key: _Key, index: int) -> str:
        names = list(key.subkeys)
        if index >= len(names):
            raise OSError("[WinError 259] No more data is available")
        return names[index]

    def QueryValueEx(self, key: _Key, name: str) -> tuple[Any, int]:
        if name not in key.values or key.values[name] is None:
            raise FileNotFoundError(f"[WinError 2] no value {name}")
        value = key.values[name]
        if isinstance(value, list):  # REG_BINARY, as PowerShell's JSON lists its bytes
            return bytes(value), 3
        return value, 11 if isinstance(value, int) else 1
