<#
  Removes the lessonwatch agent service and program. Intune uninstall command:
    powershell.exe -ExecutionPolicy Bypass -File uninstall.ps1 [-Purge]
  -Purge also deletes the state (device identity, token, queue); without it a reinstall keeps
  the device's identity.
#>
param([switch]$Purge)
$ErrorActionPreference = 'Continue'
$Base = Join-Path $env:ProgramFiles 'lessonwatch'
$Data = Join-Path $env:ProgramData 'lessonwatch'
Stop-ScheduledTask -TaskName 'lessonwatch-agent-helper' -ErrorAction SilentlyContinue
Unregister-ScheduledTask -TaskName 'lessonwatch-agent-helper' -Confirm:$false -ErrorAction SilentlyContinue
if (Test-Path "$Base\lessonwatch-agent-service.exe") {
    & "$Base\lessonwatch-agent-service.exe" stop
    & "$Base\lessonwatch-agent-service.exe" uninstall
}
foreach ($browser in @('Google\Chrome', 'Chromium', 'Microsoft\Edge')) {
    Remove-Item -Path "HKLM:\Software\$browser\NativeMessagingHosts\nl.lessonwatch.agent" -Force -ErrorAction SilentlyContinue
}
Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
if ($Purge) { Remove-Item -Recurse -Force $Data -ErrorAction SilentlyContinue }
