<#
.SYNOPSIS
    Runs ai-worker.exe from its folder, logging to a dated file under logs\.

.DESCRIPTION
    Finds ai-worker.exe at the path in the environment variable AI_WORKER_EXE, else
    beside this script, else in the parent folder. Runs it with the folder of the .exe
    as the working folder, so the .env beside it is used, and with
    --log-file logs\ai-worker-{date}.log, so that ai-worker appends its log lines,
    errors and exit code to logs\ai-worker-yyyy-MM-dd.log there (a UTC date, like the
    times in the lines). Several runs at once share the file safely. The output also
    stays on the console, and standard output is this script's output, so --json can
    be piped to ConvertFrom-Json.

    Every argument is passed to ai-worker unchanged. The script exits with ai-worker's
    exit code: 0 done, 1 some items or a task failed, 2 bad usage or configuration,
    3 database unreachable, 130 stopped by a second Ctrl+C; 127 when ai-worker.exe is
    not found.

.EXAMPLE
    .\run_worker.ps1 --max-item 200

.EXAMPLE
    .\run_worker.ps1 --task 42 --concurrency 8

.EXAMPLE
    $summary = .\run_worker.ps1 --max-item 50 --json | ConvertFrom-Json

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

$exitCode = 1
Push-Location -LiteralPath (Split-Path -Path $exe -Parent)
try {
    & $exe --log-file 'logs\ai-worker-{date}.log' @workerArgs
    $exitCode = $LASTEXITCODE
}
finally {
    Pop-Location
}
exit $exitCode
