<#
.SYNOPSIS
    Removes the Task Scheduler job that install_task.ps1 registered.

.DESCRIPTION
    Stops the task if it is running (ai-worker then finishes or, if killed, its items
    return to the queue after WORKER_LEASE_S) and unregisters it. Removing a task that
    does not exist is not an error. Leaves ai-worker.exe, .env and the logs in place.
    Run it in PowerShell opened with "Run as administrator".

.PARAMETER TaskName
    Name of the task (default ai-worker; the serve task is ai-worker-serve).

.EXAMPLE
    .\uninstall_task.ps1

.EXAMPLE
    .\uninstall_task.ps1 -TaskName ai-worker-serve
#>
[CmdletBinding()]
param(
    [ValidateNotNullOrEmpty()]
    [string] $TaskName = 'ai-worker'
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$task = Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
if (-not $task) {
    Write-Output "No task named '$TaskName'; nothing to remove."
    exit 0
}
if ($task.State -eq 'Running') {
    Stop-ScheduledTask -TaskName $TaskName
}
Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
Write-Output "Removed task '$TaskName'."
exit 0
