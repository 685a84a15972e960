@echo off
rem ===========================================================================
rem run_worker.cmd - runs ai-worker.exe by hand (CMD) or from Task Scheduler.
rem
rem Keep this file beside ai-worker.exe and its .env (or in a "scripts" folder under
rem it). Every argument goes to ai-worker unchanged, for example:
rem     run_worker.cmd --max-item 200
rem     run_worker.cmd --task 42 --concurrency 8
rem ai-worker runs in its own folder, so the .env beside it is used, and appends its
rem log lines, errors and exit code to logs\ai-worker-YYYY-MM-DD.log there (--log-file;
rem the date is UTC, like the times in the lines). Several runs at once share the
rem file safely. Its output also stays on the console.
rem The exit code is ai-worker's:
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

"%EXE%" --log-file "logs\ai-worker-{date}.log" %*
exit /b %ERRORLEVEL%

:no_exe
echo run_worker: ai-worker.exe not found beside "%~dp0" or in its parent folder 1>&2
echo hint: put this script beside ai-worker.exe, or set AI_WORKER_EXE to its full path 1>&2
exit /b 127
