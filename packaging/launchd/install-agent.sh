#!/bin/sh
# Install (or remove) the OBT agent on macOS as a launchd daemon (docs/agent.md, "macOS (launchd)").
#
#   sudo sh install-agent.sh --wheel ./obt_fleet-0.1.0-py3-none-any.whl \
#        --server https://obt.example:8881 --enroll-token abcdef.0123456789abcdef [--ca-file ca.pem]
#   sudo sh install-agent.sh --uninstall
#
# 1. Finds Python >= 3.10 (macOS's own /usr/bin/python3 is 3.9: too old) or says how to get it.
# 2. Makes a virtual environment in /usr/local/obt-agent with the wheel's `agent` extra.
# 3. Enrolls once, here: the enrollment token is traded for a node token, which the agent keeps in
#    /Library/Application Support/obt-agent/agent-state.json (mode 0600, directory 0700, root).
#    The enrollment token is never written to disk, and the plist holds no secret at all.
# 4. Writes /Library/LaunchDaemons/dev.obt.agent.plist (0644) from dev.obt.agent.plist next to
#    this script and starts it with launchctl.
#
# OBT_INSTALL_ROOT (tests only) puts every system path below another directory and skips the
# root check and chown.
set -eu

LABEL=dev.obt.agent
ROOT=${OBT_INSTALL_ROOT:-}
PREFIX="$ROOT/usr/local/obt-agent"
DATA_DIR="$ROOT/Library/Application Support/obt-agent"
PLIST="$ROOT/Library/LaunchDaemons/$LABEL.plist"
LOG="$ROOT/Library/Logs/obt-agent.log"
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "install-agent.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null
}

GET_PYTHON="Install Python 3.10 or newer from https://www.python.org/downloads/macos/ or with
  Homebrew (brew install python@3.12), then run this again (or pass --python /path/to/python3.12)."

find_python() {
  if [ -n "$PYTHON" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "--python $PYTHON: no such program. $GET_PYTHON"
    python_ok "$PYTHON" \
      || die "--python $PYTHON is $("$PYTHON" -V 2>&1); OBT needs Python >= 3.10. $GET_PYTHON"
    echo "$PYTHON"
    return
  fi
  for candidate in python3.13 python3.12 python3.11 python3.10 \
      /opt/homebrew/bin/python3 /usr/local/bin/python3 \
      /Library/Frameworks/Python.framework/Versions/Current/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"
      return
    fi
  done
  die "no Python >= 3.10 found (macOS's own /usr/bin/python3 is 3.9). $GET_PYTHON"
}

xml_escape() {
  printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'
}

uninstall() {
  launchctl bootout "system/$LABEL" 2>/dev/null || true  # not loaded: nothing to stop
  rm -f "$PLIST" "$LOG"
  rm -rf "$PREFIX" "$DATA_DIR"
  echo "OBT agent removed ($PLIST, $PREFIX, $DATA_DIR, $LOG)."
}

SERVER="" ENROLL="" WHEEL="" CA_FILE="" PYTHON="" UNINSTALL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server) SERVER=${2:?--server needs a URL}; shift 2 ;;
    --enroll-token) ENROLL=${2:?--enroll-token needs a token}; shift 2 ;;
    --wheel) WHEEL=${2:?--wheel needs a path}; shift 2 ;;
    --ca-file) CA_FILE=${2:?--ca-file needs a path}; shift 2 ;;
    --python) PYTHON=${2:?--python needs a path}; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "run it with sudo: it installs a system daemon"
fi
if [ -n "$UNINSTALL" ]; then
  uninstall
  exit 0
fi
[ -n "$SERVER" ] || die "give --server https://your-obt-api:8881"
[ -n "$ENROLL" ] || [ -f "$DATA_DIR/agent-state.json" ] \
  || die "give --enroll-token (from: obt enroll-token create) for the first installation"
if [ -n "$CA_FILE" ]; then
  [ -f "$CA_FILE" ] || die "--ca-file $CA_FILE: no such file"
  CA_FILE=$(cd "$(dirname "$CA_FILE")" && pwd)/$(basename "$CA_FILE")
fi

# 1-2. Python and the virtual environment. Without --wheel an existing installation is kept.
PY=$(find_python)
if [ -n "$WHEEL" ]; then
  [ -e "$WHEEL" ] || die "--wheel $WHEEL: no such file (build it with: make dist)"
  # An absolute path: pip reads a bare name with an extra as a PyPI project (`obt` is another one).
  WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
  "$PY" -m venv "$PREFIX" || die "$PY -m venv $PREFIX failed"
  "$PREFIX/bin/python" -m pip install --upgrade --quiet "$WHEEL[agent]" \
    || die "pip install $WHEEL[agent] failed"
elif [ ! -x "$PREFIX/bin/obt" ]; then
  die "give --wheel (the obt_fleet-*.whl that make dist builds) for the first installation"
fi

# 3. State directory, then enrollment: the node token lands in agent-state.json (0600).
mkdir -p "$DATA_DIR" "$(dirname "$PLIST")" "$(dirname "$LOG")"
chmod 0700 "$DATA_DIR"
[ -n "$ROOT" ] || chown root:wheel "$DATA_DIR"
if [ -n "$ENROLL" ]; then
  set -- --server "$SERVER" --data-dir "$DATA_DIR" --once --listen off
  [ -z "$CA_FILE" ] || set -- "$@" --ca-file "$CA_FILE"
  # The token goes through the environment, not argv (ps would show it to every user).
  OBT_AGENT__ENROLL_TOKEN=$ENROLL "$PREFIX/bin/obt" agent "$@" \
    || die "enrollment with $SERVER failed (see the lines above); nothing was started"
fi
chmod 0600 "$DATA_DIR/agent-state.json"
[ -n "$ROOT" ] || chown root:wheel "$DATA_DIR/agent-state.json"

# 4. The plist: server URL, data dir and CA file only; no token.
CA_XML=""
if [ -n "$CA_FILE" ]; then
  CA_XML="    <key>OBT_AGENT__CA_FILE</key>
    <string>$(xml_escape "$CA_FILE")</string>"
fi
TMP_PLIST="$PLIST.tmp"
# Values reach awk through the environment (no escape processing) and are put in with index/substr
# (no special meaning of & as in gsub).
V_SERVER=$(xml_escape "$SERVER") V_DATA=$(xml_escape "$DATA_DIR") V_OBT=$(xml_escape "$PREFIX/bin/obt") \
V_LOG=$(xml_escape "$LOG") V_CA=$CA_XML awk '
  function put(line, from, to,    out, at) {
    out = ""
    while ((at = index(line, from)) > 0) {
      out = out substr(line, 1, at - 1) to
      line = substr(line, at + length(from))
    }
    return out line
  }
  /@CA_FILE@/ { if (ENVIRON["V_CA"] != "") print ENVIRON["V_CA"]; next }
  {
    line = put($0, "@SERVER@", ENVIRON["V_SERVER"]); line = put(line, "@DATA_DIR@", ENVIRON["V_DATA"])
    line = put(line, "@OBT@", ENVIRON["V_OBT"]); print put(line, "@LOG@", ENVIRON["V_LOG"])
  }' "$HERE/$LABEL.plist" > "$TMP_PLIST"
chmod 0644 "$TMP_PLIST"
[ -n "$ROOT" ] || chown root:wheel "$TMP_PLIST"
mv "$TMP_PLIST" "$PLIST"
if command -v plutil >/dev/null 2>&1; then
  plutil -lint "$PLIST" >/dev/null || die "$PLIST is not a valid plist"
fi

launchctl bootout "system/$LABEL" 2>/dev/null || true  # an older version, if loaded
launchctl bootstrap system "$PLIST" || die "launchctl bootstrap system $PLIST failed"
echo "OBT agent installed and started (logs: $LOG). Check it with: $PREFIX/bin/obt agent detect"
