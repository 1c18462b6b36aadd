<#
.SYNOPSIS
  Install (or remove) the OBT agent on Windows as a task that starts at boot.

.DESCRIPTION
  Checks for Python 3.10 or newer, creates a virtual environment under $InstallDir, installs the
  OBT wheel's 'agent' extra into it (the obt_fleet-*.whl that `make dist` builds: OBT is not on
  PyPI yet), enrolls this PC once, and registers the scheduled task "OBT Agent" that runs
  `obt agent` as SYSTEM at startup and restarts it if it stops.

  The enrollment token is used once, here, and written nowhere: the node token the server returns
  is kept in %ProgramData%\obt-agent\agent-state.json, readable by SYSTEM and Administrators only,
  and the task's command line holds no secret.

  No third-party service wrapper (NSSM) is needed: Python cannot be a native Windows service
  without pywin32 glue, and a startup task gives the same "starts at boot, restarts on failure".

  Every native program it runs (python, pip, obt, icacls) is checked: a non-zero exit code stops
  the script with a message naming the step.

  Execution policy: Windows refuses to run downloaded scripts under the default policy. Run it for
  this one process without changing the machine's policy, from an elevated PowerShell:
    powershell -NoProfile -ExecutionPolicy Bypass -File .\install-agent.ps1 -Wheel ... -Server ...
  (or `Unblock-File .\install-agent.ps1` first if you trust the file and your policy is RemoteSigned).

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File .\install-agent.ps1 -Wheel .\obt_fleet-0.1.0-py3-none-any.whl -Server https://obt.example:8881 -EnrollToken abcdef.0123456789abcdef
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File .\install-agent.ps1 -Wheel .\obt_fleet-0.1.0-py3-none-any.whl -Server https://obt.example:8881 -EnrollToken abcdef.0123456789abcdef -CaFile .\obt-ca.pem
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File .\install-agent.ps1 -Uninstall
#>
[CmdletBinding()]
param(
  [string]$Server,
  [string]$EnrollToken,
  # The wheel from `make dist` (or a checkout directory); required the first time.
  [string]$Wheel,
  # PEM file of a private CA that signed the server's certificate.
  [string]$CaFile,
  # A Python 3.10+ interpreter; "py" is the Python launcher that python.org's installer adds.
  [string]$Python = "py",
  [string]$InstallDir = "$env:ProgramFiles\obt-agent",
  [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$TaskName = "OBT Agent"
$DataDir = Join-Path $env:ProgramData "obt-agent"
$VenvPython = Join-Path $InstallDir "Scripts\python.exe"
$Obt = Join-Path $InstallDir "Scripts\obt.exe"

# Runs a native program and stops on a non-zero exit code: PowerShell's $ErrorActionPreference
# covers cmdlets only, never the exit code of python, pip or icacls.
function Invoke-Native {
  param([string]$Step, [scriptblock]$Command)
  & $Command
  if ($LASTEXITCODE -ne 0) {
    throw "$Step failed (exit code $LASTEXITCODE)."
  }
}

if (-not ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole(
    [Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw "Run this script from an elevated PowerShell (Run as administrator)."
}

if ($Uninstall) {
  if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
    Stop-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
  }
  Remove-Item -Recurse -Force $InstallDir -ErrorAction SilentlyContinue
  Remove-Item -Recurse -Force $DataDir -ErrorAction SilentlyContinue
  Write-Host "OBT agent removed (task '$TaskName', $InstallDir, $DataDir)."
  return
}

if (-not $Server) { throw "Give -Server https://your-obt-api:8881" }
$State = Join-Path $DataDir "agent-state.json"
if (-not $EnrollToken -and -not (Test-Path $State)) {
  throw "Give -EnrollToken (from: obt enroll-token create) for the first installation."
}
if (-not $Wheel -and -not (Test-Path $Obt)) {
  throw "Give -Wheel (the obt_fleet-*.whl that make dist builds) for the first installation."
}
if ($Wheel -and -not (Test-Path $Wheel)) { throw "-Wheel ${Wheel}: no such file." }
if ($CaFile) {
  if (-not (Test-Path $CaFile)) { throw "-CaFile ${CaFile}: no such file." }
  $CaFile = (Resolve-Path $CaFile).Path
}

# 1. Python >= 3.10.
$HowToGetPython = "Install Python 3.10 or newer from https://www.python.org/downloads/windows/ " +
  "(tick 'py launcher') or with: winget install Python.Python.3.12 -- then run this again, " +
  "or pass -Python C:\path\to\python.exe."
if (-not (Get-Command $Python -ErrorAction SilentlyContinue)) {
  throw "No '$Python' command found. $HowToGetPython"
}
& $Python -c "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)"
if ($LASTEXITCODE -ne 0) {
  throw "'$Python' is older than Python 3.10 (or does not run). $HowToGetPython"
}

# 2. A private virtual environment with the light agent extra only.
if ($Wheel) {
  $Requirement = "$((Resolve-Path $Wheel).Path)[agent]"
  Invoke-Native "Creating the virtual environment in $InstallDir" { & $Python -m venv $InstallDir }
  Invoke-Native "Updating pip" { & $VenvPython -m pip install --quiet --upgrade pip }
  Invoke-Native "pip install $Requirement" { & $VenvPython -m pip install --quiet --upgrade $Requirement }
}

# 3. State directory readable by SYSTEM and Administrators only (it will hold the node token).
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
Invoke-Native "Restricting $DataDir with icacls" {
  icacls $DataDir /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" | Out-Null
}

# 4. Enroll once, now: the token travels in the environment of this one process, not on a command
#    line, and the node token lands in agent-state.json.
$CommonArgs = @("--server", $Server, "--data-dir", $DataDir)
if ($CaFile) { $CommonArgs += @("--ca-file", $CaFile) }
if ($EnrollToken) {
  $env:OBT_AGENT__ENROLL_TOKEN = $EnrollToken
  try {
    Invoke-Native "Enrolling with $Server" { & $Obt agent @CommonArgs --once --listen off }
  } finally {
    Remove-Item Env:\OBT_AGENT__ENROLL_TOKEN -ErrorAction SilentlyContinue
  }
}

# 5. A startup task running as SYSTEM, restarted every minute if it stops, no time limit.
$Arguments = "agent --server `"$Server`" --data-dir `"$DataDir`""
if ($CaFile) { $Arguments += " --ca-file `"$CaFile`"" }
$Action = New-ScheduledTaskAction -Execute $Obt -Argument $Arguments -WorkingDirectory $InstallDir
$Trigger = New-ScheduledTaskTrigger -AtStartup
$Principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
$Settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
  -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger -Principal $Principal `
  -Settings $Settings -Description "OBT agent: reports this PC's hardware and Ollama" -Force | Out-Null
Start-ScheduledTask -TaskName $TaskName
Write-Host "OBT agent installed and started. Check it with: & '$Obt' agent detect"
Write-Host "Remove it with: powershell -ExecutionPolicy Bypass -File $PSCommandPath -Uninstall"
