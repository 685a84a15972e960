<#
.SYNOPSIS
    Runs ai-worker.exe from its folder and appends its output to a dated log file.

.DESCRIPTION
    Finds ai-worker.exe beside this script, else in the parent folder, else at the path
    in the environment variable AI_WORKER_EXE. Runs it with the folder of the .exe as
    the working folder, so the .env beside it is used, and appends its output and log
    lines (UTF-8) to logs\ai-worker-yyyy-MM-dd.log beside the .exe.

    Every argument is passed to ai-worker unchanged. The script exits with ai-worker's
    exit code: 0 done, 1 some items or a task failed, 2 bad usage or configuration,
    3 database unreachable, 130 stopped by a second Ctrl+C; 127 when ai-worker.exe is
    not found.

.EXAMPLE
    .\run_worker.ps1 --max-item 200

.EXAMPLE
    .\run_worker.ps1 --task 42 --concurrency 8

.EXAMPLE
    powershell.exe -NoProfile -ExecutionPolicy Bypass -File "C:\ai-worker\run_worker.ps1" --max-item 200
#>

# No param() block on purpose: every argument, "--task" and "-v" included, reaches
# ai-worker through $args untouched.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Find-Worker {
    $candidates = @(
        (Join-Path -Path $PSScriptRoot -ChildPath 'ai-worker.exe'),
        (Join-Path -Path (Split-Path -Path $PSScriptRoot -Parent) -ChildPath 'ai-worker.exe')
    )
    if ($env:AI_WORKER_EXE) {
        $candidates = @($env:AI_WORKER_EXE) + $candidates
    }
    foreach ($candidate in $candidates) {
        if (Test-Path -LiteralPath $candidate -PathType Leaf) {
            return (Resolve-Path -LiteralPath $candidate).ProviderPath
        }
    }
    return $null
}

$workerArgs = @($args)
$exe = Find-Worker
if (-not $exe) {
    [Console]::Error.WriteLine("run_worker: ai-worker.exe not found beside $PSScriptRoot or in its parent folder")
    [Console]::Error.WriteLine('hint: put this script beside ai-worker.exe, or set AI_WORKER_EXE to its full path')
    exit 127
}

$folder = Split-Path -Path $exe -Parent
$logDir = Join-Path -Path $folder -ChildPath 'logs'
$null = New-Item -ItemType Directory -Path $logDir -Force
$logFile = Join-Path -Path $logDir -ChildPath ('ai-worker-{0}.log' -f (Get-Date -Format 'yyyy-MM-dd'))

# ai-worker writes UTF-8; read it as UTF-8 (the console default is the OEM code page)
# and write the log as UTF-8 without a byte order mark, like run_worker.cmd does.
$previousEncoding = [Console]::OutputEncoding
$utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
# Shared for reading and writing: another run (or run_worker.cmd) may append meanwhile.
$stream = [System.IO.File]::Open($logFile, [System.IO.FileMode]::Append, [System.IO.FileAccess]::Write, [System.IO.FileShare]::ReadWrite)
$writer = New-Object -TypeName System.IO.StreamWriter -ArgumentList $stream, $utf8
$writer.AutoFlush = $true
$exitCode = 1
Push-Location -LiteralPath $folder
try {
    try { [Console]::OutputEncoding = $utf8 } catch { $writer.WriteLine('run_worker: console encoding left as it is') }
    $writer.WriteLine(('==== {0} run_worker: ai-worker.exe {1}' -f (Get-Date -Format 's'), ($workerArgs -join ' ')))
    # Lines on stderr are log lines, not failures of this script: collect both streams.
    $ErrorActionPreference = 'Continue'
    & $exe @workerArgs 2>&1 | ForEach-Object -Process { $writer.WriteLine($_.ToString()) }
    $exitCode = $LASTEXITCODE
    $ErrorActionPreference = 'Stop'
    $writer.WriteLine(('==== {0} run_worker: exit code {1}' -f (Get-Date -Format 's'), $exitCode))
}
finally {
    $ErrorActionPreference = 'Stop'
    Pop-Location
    $writer.Dispose()
    try { [Console]::OutputEncoding = $previousEncoding } catch { $null = $_ }
}
Write-Output ('ai-worker exit code {0}; log: {1}' -f $exitCode, $logFile)
exit $exitCode
