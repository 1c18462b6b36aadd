<#
.SYNOPSIS
  Install (or remove) the OBT agent on Windows as a task that starts at boot.

.DESCRIPTION
  Creates a Python virtual environment under $InstallDir, installs 'obt[agent]' into it, and
  registers the scheduled task "OBT Agent" that runs `obt agent` as SYSTEM at startup and
  restarts it if it stops. No third-party service wrapper (NSSM) is needed: Python cannot be a
  native Windows service without pywin32 glue, and a startup task gives the same "starts at boot,
  restarts on failure" behaviour. The node token is kept in %ProgramData%\obt-agent.

.EXAMPLE
  .\install-agent.ps1 -Server https://obt.example.com:8881 -EnrollToken abcdef.0123456789abcdef
.EXAMPLE
  .\install-agent.ps1 -Uninstall
#>
[CmdletBinding()]
param(
  [string]$Server,
  [string]$EnrollToken,
  [string]$Python = "py",
  [string]$InstallDir = "$env:ProgramFiles\obt-agent",
  [string]$Package = "obt[agent]",
  [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$TaskName = "OBT Agent"
$DataDir = Join-Path $env:ProgramData "obt-agent"

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
  Write-Host "OBT agent removed (task, $InstallDir, $DataDir)."
  return
}

if (-not $Server) { throw "Give -Server https://your-obt-api:8881" }
$State = Join-Path $DataDir "agent-state.json"
if (-not $EnrollToken -and -not (Test-Path $State)) {
  throw "Give -EnrollToken (from the OBT dashboard) for the first installation."
}

# 1. A private virtual environment with the light agent extra only.
& $Python -m venv $InstallDir
& "$InstallDir\Scripts\python.exe" -m pip install --upgrade pip
& "$InstallDir\Scripts\python.exe" -m pip install --upgrade $Package
$Obt = Join-Path $InstallDir "Scripts\obt.exe"

# 2. State directory readable by SYSTEM and Administrators only (it will hold the node token).
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
icacls $DataDir /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null

# 3. A startup task running as SYSTEM, restarted every minute if it stops, no time limit.
$Arguments = "agent --server `"$Server`" --data-dir `"$DataDir`""
if ($EnrollToken) { $Arguments += " --enroll-token `"$EnrollToken`"" }
$Action = New-ScheduledTaskAction -Execute $Obt -Argument $Arguments -WorkingDirectory $InstallDir
$Trigger = New-ScheduledTaskTrigger -AtStartup
$Principal = New-ScheduledTaskPrincipal -UserId "SYSTEM" -LogonType ServiceAccount -RunLevel Highest
$Settings = New-ScheduledTaskSettingsSet -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
  -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger -Principal $Principal `
  -Settings $Settings -Description "OBT agent: reports this PC's hardware and Ollama" -Force | Out-Null
Start-ScheduledTask -TaskName $TaskName
Write-Host "OBT agent installed and started. Check it with: & '$Obt' agent detect"
