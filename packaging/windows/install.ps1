<#
  Installs the lessonwatch agent as a Windows service (WinSW) and enrols it.
  Run elevated (Intune Win32 app, install command):
    powershell.exe -ExecutionPolicy Bypass -File install.ps1 -Server https://lessonwatch.school.example -Code ABCD-EFGH-JKLM
  The package folder holds: install.ps1, uninstall.ps1, lessonwatch-agent.xml,
  lessonwatch-agent-helper.xml (the per-user helper's logon task), nl.lessonwatch.agent.json and
  native-host.bat (the browser extension's native messaging host),
  lessonwatch-agent-service.exe (WinSW v3, renamed), wheels\ (lessonwatch and its dependencies),
  and python\ (an embeddable or full CPython 3.11 for Windows). See docs/deploy.md.
#>
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$Code,
    # A label IT chooses (an asset tag, say). Never the computer name: it is often the pupil's
    # own, and would undo the pseudonymous device id.
    [string]$Label = ''
)
$ErrorActionPreference = 'Stop'
$Base = Join-Path $env:ProgramFiles 'lessonwatch'
$Data = Join-Path $env:ProgramData 'lessonwatch'
$Here = Split-Path -Parent $MyInvocation.MyCommand.Definition

New-Item -ItemType Directory -Force -Path $Base, "$Data\state", "$Data\logs" | Out-Null
Copy-Item -Recurse -Force "$Here\python" "$Base\python"
& "$Base\python\python.exe" -m venv "$Base\venv"
& "$Base\venv\Scripts\python.exe" -m pip install --no-index --find-links "$Here\wheels" 'lessonwatch[agent]'
Copy-Item -Force "$Here\lessonwatch-agent.xml", "$Here\lessonwatch-agent-service.exe" $Base
# The service's bytecode cache (PYTHONPYCACHEPREFIX in lessonwatch-agent.xml): the standard
# library and the venv compiled -OO and without column tables; an embeddable CPython's library
# stays in its zip with the bytecode it ships. Compiled again at every install.
$Stdlib = & "$Base\venv\Scripts\python.exe" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))'
Remove-Item -Recurse -Force "$Base\pycache" -ErrorAction SilentlyContinue
& "$Base\venv\Scripts\python.exe" -OO -X no_debug_ranges -X "pycache_prefix=$Base\pycache" `
    -m compileall -q -j 0 -x '[\\/]tests?[\\/]' $Stdlib "$Base\venv\Lib" | Out-Null
Copy-Item -Force "$Here\nl.lessonwatch.agent.json", "$Here\native-host.bat" $Base

# Only SYSTEM and Administrators may read or change the state (device token) and the program.
foreach ($path in @($Base, $Data)) {
    icacls $path /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
}
icacls $Base /grant 'Users:(OI)(CI)RX' | Out-Null   # pupils may run "lessonwatch-agent explain"

$Enrol = @('enroll', '--state-dir', "$Data\state", '--server', $Server, '--code', $Code)
if ($Label) { $Enrol += @('--label', $Label) }
& "$Base\venv\Scripts\lessonwatch-agent.exe" @Enrol
if ($LASTEXITCODE -ne 0) { throw "enrolment failed (exit $LASTEXITCODE)" }

& "$Base\lessonwatch-agent-service.exe" install
& "$Base\lessonwatch-agent-service.exe" start

# The per-user helper: a task at every logon, in the user's session (see docs/deploy.md).
$TaskXml = Get-Content -Raw -Path "$Here\lessonwatch-agent-helper.xml"
Register-ScheduledTask -TaskName 'lessonwatch-agent-helper' -Xml $TaskXml -Force | Out-Null

# Paired mode: register the browser extension's native messaging host for Chrome, Chromium and
# Edge, machine-wide (Edge's NativeMessagingUserLevelHosts policy may forbid per-user hosts).
# Each key's default value is the manifest's path; the manifest names native-host.bat beside it.
$HostManifest = Join-Path $Base 'nl.lessonwatch.agent.json'
foreach ($browser in @('Google\Chrome', 'Chromium', 'Microsoft\Edge')) {
    $key = "HKLM:\Software\$browser\NativeMessagingHosts\nl.lessonwatch.agent"
    New-Item -Path $key -Force | Out-Null
    Set-Item -Path $key -Value $HostManifest
}
