<#
.SYNOPSIS
    Registers a Windows Task Scheduler job that runs ai-worker every N minutes.

.DESCRIPTION
    Registers (or with -Force replaces) the task -TaskName. Its action runs
    run_worker.cmd from the folder of ai-worker.exe with -WorkerArguments, so every run
    uses the .env beside the .exe and appends to logs\ai-worker-yyyy-MM-dd.log there.
    Task Scheduler's "Last Run Result" is ai-worker's exit code (0 done, 1 some items
    failed, 2 configuration, 3 database unreachable).

    A run still going when the next one is due is left alone (the new one is skipped);
    a run is stopped after -MaxHours (its unfinished items return to the queue after
    WORKER_LEASE_S).

    With -Serve the task instead starts "ai-worker.exe serve" (the HTTP trigger for the
    panel) at system start-up and restarts it if it stops with an error; it logs to
    logs\ai-worker-serve-yyyy-MM-dd.log.

    Run it in PowerShell opened with "Run as administrator": a task that runs whether
    anyone is logged on or not needs it.

.PARAMETER Folder
    The folder with ai-worker.exe, .env and run_worker.cmd (default: this script's
    folder, or its parent when ai-worker.exe is there).

.PARAMETER TaskName
    Name of the task in Task Scheduler (default ai-worker; ai-worker-serve with -Serve).

.PARAMETER EveryMinutes
    Minutes between runs, 1 to 1440 (default 10).

.PARAMETER WorkerArguments
    Arguments for ai-worker (default "--max-item 200"; '' for ai-worker's defaults).

.PARAMETER MaxHours
    Hours after which Task Scheduler stops a run, 1 to 72 (default 12).

.PARAMETER Account
    CurrentUser (default): runs as you, whether you are logged on or not, without
    storing your password (it then cannot open network shares, which ai-worker does not
    need). System: runs as the local SYSTEM account.

.PARAMETER Serve
    Register "ai-worker.exe serve" at start-up instead of a run every N minutes.

.PARAMETER Force
    Replace a task of the same name.

.EXAMPLE
    .\install_task.ps1

.EXAMPLE
    .\install_task.ps1 -EveryMinutes 5 -WorkerArguments '--max-item 500 --concurrency 8'

.EXAMPLE
    .\install_task.ps1 -Folder 'D:\Programs\ai worker' -Account System -Force

.EXAMPLE
    .\install_task.ps1 -Serve
#>
[CmdletBinding()]
param(
    [string] $Folder = '',
    [string] $TaskName = '',
    [ValidateRange(1, 1440)]
    [int] $EveryMinutes = 10,
    [string] $WorkerArguments = '--max-item 200',
    [ValidateRange(1, 72)]
    [int] $MaxHours = 12,
    [ValidateSet('CurrentUser', 'System')]
    [string] $Account = 'CurrentUser',
    [switch] $Serve,
    [switch] $Force
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Stop-WithError([string] $Message, [string] $Hint) {
    [Console]::Error.WriteLine("install_task: $Message")
    if ($Hint) { [Console]::Error.WriteLine("hint: $Hint") }
    exit 2
}

if (-not $Folder) {
    $Folder = $PSScriptRoot
    if (-not (Test-Path -LiteralPath (Join-Path -Path $Folder -ChildPath 'ai-worker.exe'))) {
        $Folder = Split-Path -Path $PSScriptRoot -Parent
    }
}
if (-not (Test-Path -LiteralPath $Folder -PathType Container)) {
    Stop-WithError "folder '$Folder' does not exist" 'pass -Folder with the folder of ai-worker.exe'
}
$Folder = (Resolve-Path -LiteralPath $Folder).ProviderPath
$exe = Join-Path -Path $Folder -ChildPath 'ai-worker.exe'
# run_worker.cmd beside the .exe, else the one beside this script (scripts folder).
$runner = Join-Path -Path $Folder -ChildPath 'run_worker.cmd'
if (-not (Test-Path -LiteralPath $runner -PathType Leaf)) {
    $runner = Join-Path -Path $PSScriptRoot -ChildPath 'run_worker.cmd'
}
if (-not (Test-Path -LiteralPath $exe -PathType Leaf)) {
    Stop-WithError "ai-worker.exe not found in '$Folder'" 'pass -Folder with the folder of ai-worker.exe'
}
if (-not (Test-Path -LiteralPath (Join-Path -Path $Folder -ChildPath '.env') -PathType Leaf)) {
    Stop-WithError "no .env in '$Folder'" 'copy .env.example to .env there and fill it in first'
}
if (-not $Serve -and -not (Test-Path -LiteralPath $runner -PathType Leaf)) {
    Stop-WithError "run_worker.cmd not found in '$Folder'" 'copy run_worker.cmd from the scripts folder beside ai-worker.exe'
}
if (-not $TaskName) {
    $TaskName = if ($Serve) { 'ai-worker-serve' } else { 'ai-worker' }
}

$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$isAdmin = (New-Object -TypeName Security.Principal.WindowsPrincipal -ArgumentList $identity).IsInRole(
    [Security.Principal.WindowsBuiltInRole]::Administrator)
if (-not $isAdmin) {
    Stop-WithError 'this needs an elevated PowerShell' 'right-click PowerShell, choose "Run as administrator", and run this again'
}

$existing = Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue
if ($existing -and -not $Force) {
    Stop-WithError "a task named '$TaskName' already exists" 'add -Force to replace it, or run uninstall_task.ps1 first'
}

if ($Account -eq 'System') {
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Limited
}
else {
    $principal = New-ScheduledTaskPrincipal -UserId $identity.Name -LogonType S4U -RunLevel Limited
}

if ($Serve) {
    $action = New-ScheduledTaskAction -Execute ('"{0}"' -f $exe) `
        -Argument 'serve --log-file logs\ai-worker-serve-{date}.log' -WorkingDirectory $Folder
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -StartWhenAvailable `
        -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1)
    $description = 'ai-worker serve: HTTP trigger for the panel (see README.txt, section 8).'
}
else {
    # An empty -WorkerArguments means ai-worker's defaults (WORKER_MAX_ITEMS from .env).
    $actionParameters = @{ Execute = ('"{0}"' -f $runner); WorkingDirectory = $Folder }
    if ($WorkerArguments.Trim()) {
        $actionParameters['Argument'] = $WorkerArguments
    }
    $action = New-ScheduledTaskAction @actionParameters
    # Paths are quoted for Task Scheduler (folders may have spaces). Without
    # -RepetitionDuration the repetition goes on indefinitely (Windows 10 / Server 2016+).
    $trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).AddMinutes(1) `
        -RepetitionInterval (New-TimeSpan -Minutes $EveryMinutes)
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -StartWhenAvailable `
        -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
        -ExecutionTimeLimit (New-TimeSpan -Hours $MaxHours)
    $description = "ai-worker every $EveryMinutes minutes: run_worker.cmd $WorkerArguments (see README.txt)."
}

$task = New-ScheduledTask -Action $action -Trigger $trigger -Settings $settings -Principal $principal `
    -Description $description
$null = Register-ScheduledTask -TaskName $TaskName -InputObject $task -Force

Write-Output "Registered task '$TaskName' for '$Folder' (account: $Account)."
if ($Serve) {
    Write-Output "It starts at the next system start-up; start it now with: Start-ScheduledTask -TaskName '$TaskName'"
}
else {
    Write-Output "First run in about a minute, then every $EveryMinutes minutes; logs in '$Folder\logs'."
    Write-Output "Run it now: Start-ScheduledTask -TaskName '$TaskName'"
}
Write-Output "Last result (the exit code): (Get-ScheduledTaskInfo -TaskName '$TaskName').LastTaskResult"
Write-Output "Remove it: .\uninstall_task.ps1 -TaskName '$TaskName'"
