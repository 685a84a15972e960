@echo off
rem ===========================================================================
rem run_worker.cmd - runs ai-worker.exe by hand (CMD) or from Task Scheduler.
rem
rem Keep this file beside ai-worker.exe and its .env (or in a "scripts" folder under
rem it). Every argument goes to ai-worker unchanged, for example:
rem     run_worker.cmd --max-item 200
rem     run_worker.cmd --task 42 --concurrency 8
rem Output and log lines are appended to logs\ai-worker-YYYY-MM-DD.log beside the .exe
rem (the folder is created when missing). The exit code is ai-worker's:
rem     0 done, 1 some items or a task failed, 2 bad usage or configuration,
rem     3 database unreachable, 130 stopped by a second Ctrl+C,
rem     127 ai-worker.exe not found.
rem Set AI_WORKER_EXE to the full path of ai-worker.exe to run one kept elsewhere.
rem ===========================================================================
setlocal EnableExtensions DisableDelayedExpansion

set "EXE=%AI_WORKER_EXE%"
if not defined EXE if exist "%~dp0ai-worker.exe" set "EXE=%~dp0ai-worker.exe"
if not defined EXE if exist "%~dp0..\ai-worker.exe" set "EXE=%~dp0..\ai-worker.exe"
if not defined EXE goto :no_exe
if not exist "%EXE%" goto :no_exe

rem Work in the folder of the .exe: its .env is read from there, logs go there.
for %%I in ("%EXE%") do set "EXE=%%~fI"
for %%I in ("%EXE%") do set "HOME_DIR=%%~dpI"
cd /d "%HOME_DIR%"
if errorlevel 1 exit /b 2
if not exist "logs\" mkdir "logs"
if errorlevel 1 (
  echo run_worker: cannot create the folder "%HOME_DIR%logs" 1>&2
  exit /b 2
)

rem Today as YYYY-MM-DD whatever the regional settings (PowerShell is part of every
rem Windows 10/11); without PowerShell, %DATE% with its separators made file-safe.
set "TODAY="
for /f "usebackq delims=" %%D in (`powershell.exe -NoProfile -NonInteractive -Command "Get-Date -Format yyyy-MM-dd" 2^>nul`) do set "TODAY=%%D"
if not defined TODAY set "TODAY=%DATE%"
set "TODAY=%TODAY:/=-%"
set "TODAY=%TODAY:.=-%"
set "TODAY=%TODAY: =-%"
set "TODAY=%TODAY:\=-%"
set "LOG=%HOME_DIR%logs\ai-worker-%TODAY%.log"

rem The script's own log lines stay ASCII (cmd would write a path with Polish letters
rem in the console code page, and ai-worker writes UTF-8).
rem cmd cannot append to a file another run is still writing: a run that finds today's
rem log in use writes a log of its own, ai-worker-YYYY-MM-DD-<random>.log.
set "BUSY="
(>>"%LOG%" echo ==== %DATE% %TIME% run_worker: ai-worker.exe %*) 2>nul || set "BUSY=1"
if defined BUSY set "LOG=%HOME_DIR%logs\ai-worker-%TODAY%-%RANDOM%%RANDOM%.log"
if defined BUSY >>"%LOG%" echo ==== %DATE% %TIME% run_worker: ai-worker.exe %* (today's log is in use)
"%EXE%" %* >>"%LOG%" 2>&1
set "RC=%ERRORLEVEL%"
>>"%LOG%" echo ==== %DATE% %TIME% run_worker: exit code %RC%
exit /b %RC%

:no_exe
echo run_worker: ai-worker.exe not found beside "%~dp0" or in its parent folder 1>&2
echo hint: put this script beside ai-worker.exe, or set AI_WORKER_EXE to its full path 1>&2
exit /b 127
