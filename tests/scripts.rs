//! The files Windows and Linux users run or read besides the binary: the PowerShell and
//! CMD scripts, the cron example and README.txt.
//!
//! No PowerShell can be installed on the CI machine (Debian's registries carry no
//! `pwsh`), so the `.ps1` files get the PSScriptAnalyzer-style basics checked here
//! without running them: strict mode, stop on errors, no aliases, balanced brackets,
//! help text, ASCII only (Windows PowerShell 5.1 reads a file without a byte order mark
//! in the ANSI code page) and CRLF line endings. `.ci/powershell` also parses them
//! with a real PowerShell grammar. `run_worker.cmd` itself runs under Wine in
//! tests/windows_exe.rs; the cron line runs here under `sh`.

mod common;

use std::path::{Path, PathBuf};

use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};

const POWERSHELL_SCRIPTS: [&str; 3] = [
    "scripts/run_worker.ps1",
    "scripts/install_task.ps1",
    "scripts/uninstall_task.ps1",
];

/// PowerShell's built-in aliases, lowercase, one per line.
const ALIASES: &str = include_str!("powershell_aliases.txt");

fn is_alias(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    ALIASES
        .lines()
        .any(|line| !line.starts_with('#') && line == word)
}

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Problems with line endings and characters, for files Windows tools read.
fn windows_text_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.ends_with("\r\n") {
        problems.push("does not end with CRLF".to_string());
    }
    let bare_lf: Vec<usize> = text
        .split_inclusive('\n')
        .enumerate()
        .filter(|(_, line)| line.ends_with('\n') && !line.ends_with("\r\n"))
        .map(|(n, _)| n + 1)
        .collect();
    if let Some(first) = bare_lf.first() {
        problems.push(format!(
            "line {first}: LF without CR ({} such lines)",
            bare_lf.len()
        ));
    }
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end_matches(['\r', '\n']).contains('\r') {
            problems.push(format!("line {}: stray CR", n + 1));
        }
    }
    problems
}

/// The code of a PowerShell script with comments removed and string contents blanked
/// (quotes kept), so that brackets and command names can be read off it.
fn powershell_code(text: &str) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '<' && next == Some('#') {
            let rest: String = chars[i..].iter().collect();
            let end = rest.find("#>").ok_or("unclosed <# comment")?;
            code.extend(rest[..end].chars().filter(|&c| c == '\n'));
            i += rest[..end + 2].chars().count();
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unclosed {c} string at char {start}")),
                    Some('`') if c == '"' => i += 2,
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => i += 2,
                    Some(&q) if q == c => break,
                    Some('\n') => {
                        code.push('\n');
                        i += 1
                    }
                    Some(_) => i += 1,
                }
            }
            code.push(c);
            code.push(c);
            i += 1;
        } else {
            code.push(c);
            i += 1;
        }
    }
    Ok(code)
}

/// Problems a PSScriptAnalyzer-style review would raise.
fn powershell_problems(text: &str) -> Vec<String> {
    let mut problems = windows_text_problems(text);
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        problems.push(format!("non-ASCII character {c:?}"));
    }
    for required in [
        "Set-StrictMode -Version Latest",
        "$ErrorActionPreference = 'Stop'",
        ".SYNOPSIS",
        ".EXAMPLE",
    ] {
        if !text.contains(required) {
            problems.push(format!("missing {required}"));
        }
    }
    let code = match powershell_code(text) {
        Ok(code) => code,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    let mut open = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for c in line.chars() {
            match c {
                '(' | '{' | '[' => open.push((c, n + 1)),
                ')' | '}' | ']' => {
                    let want = match c {
                        ')' => '(',
                        '}' => '{',
                        _ => '[',
                    };
                    match open.pop() {
                        Some((o, _)) if o == want => {}
                        other => problems.push(format!("line {}: {c} closes {other:?}", n + 1)),
                    }
                }
                _ => {}
            }
        }
        // A command name starts the line or follows a pipe, a semicolon or an opening
        // brace; `foreach (` there is the loop keyword, not the alias.
        for segment in line.split(['|', ';', '{', '}']) {
            let segment = segment.trim_start();
            let word: String = segment
                .chars()
                .take_while(|c| !c.is_whitespace() && !"(){}[];|".contains(*c))
                .collect();
            let lower = word.to_ascii_lowercase();
            if is_alias(&word) {
                problems.push(format!("line {}: alias {word:?}", n + 1));
            }
            if lower == "foreach" && !segment[word.len()..].trim_start().starts_with('(') {
                problems.push(format!("line {}: alias foreach", n + 1));
            }
        }
    }
    for (c, line) in open {
        problems.push(format!("line {line}: {c} never closed"));
    }
    problems
}

#[test]
fn powershell_scripts_pass_the_basics() {
    for path in POWERSHELL_SCRIPTS {
        let problems = powershell_problems(&repo_file(path));
        assert!(problems.is_empty(), "{path}: {problems:#?}");
    }
}

#[test]
fn the_powershell_check_catches_what_it_should() {
    let good = "<#\r\n.SYNOPSIS\r\n x\r\n.EXAMPLE\r\n x\r\n#>\r\nSet-StrictMode -Version Latest\r\n\
                $ErrorActionPreference = 'Stop'\r\nforeach ($a in @(1)) { Write-Output \"($a\" }\r\n";
    assert_eq!(powershell_problems(good), Vec::<String>::new());
    let cases = [
        (
            good.replace("Set-StrictMode -Version Latest", ""),
            "Set-StrictMode",
        ),
        (
            good.replace("'Stop'", "'Continue'"),
            "ErrorActionPreference",
        ),
        (good.replace("\r\n", "\n"), "LF without CR"),
        (good.replace("Write-Output", "echo"), "alias \"echo\""),
        (
            good.replace("Write-Output", "Get-Item x | % { $_ } |"),
            "alias \"%\"",
        ),
        (
            good.replace("foreach ($a in @(1))", "@(1) | foreach"),
            "alias foreach",
        ),
        (good.replace("@(1)) {", "@(1) {"), "never closed"),
        (good.replace("'Stop'", "'Stop"), "unclosed"),
        (
            good.replace("Write-Output", "Write-Output 'zażółć'"),
            "non-ASCII",
        ),
    ];
    for (text, expected) in cases {
        let problems = powershell_problems(&text);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "expected {expected:?} in {problems:?}"
        );
    }
}

#[test]
fn powershell_runner_logs_like_the_cmd_one() {
    let text = repo_file("scripts/run_worker.ps1");
    assert!(text.contains("& $exe --log-file 'logs\\ai-worker-{date}.log' @workerArgs"));
    assert!(text.contains("$exitCode = $LASTEXITCODE") && text.contains("exit $exitCode"));
}

#[test]
fn cmd_script_is_ascii_with_crlf_and_passes_the_exit_code() {
    let text = repo_file("scripts/run_worker.cmd");
    assert_eq!(windows_text_problems(&text), Vec::<String>::new());
    assert!(
        text.is_ascii(),
        "cmd.exe reads scripts in the OEM code page"
    );
    assert!(text.starts_with("@echo off\r\n"));
    assert!(text.contains("setlocal EnableExtensions"));
    assert!(text.contains(r#""%EXE%" --log-file "logs\ai-worker-{date}.log" %*"#));
    assert!(text.contains("exit /b %ERRORLEVEL%"));
}

#[test]
fn readme_reads_well_in_notepad() {
    let text = repo_file("README.txt");
    assert_eq!(windows_text_problems(&text), Vec::<String>::new());
    for (n, line) in text.lines().enumerate() {
        assert!(
            line.chars().count() <= 100,
            "README.txt line {} is {} columns wide",
            n + 1,
            line.chars().count()
        );
        assert!(!line.contains('\t'), "README.txt line {}: tab", n + 1);
    }
    for section in [
        "FIRST RUN IN 5 MINUTES",
        "CMD:",
        "PowerShell:",
        "Versions tested",
        "run_worker.cmd",
        "install_task.ps1",
    ] {
        assert!(text.contains(section), "README.txt lacks {section:?}");
    }
}

/// The first cron line of scripts/cron.example, pointed at `folder`.
fn cron_command(folder: &Path) -> String {
    let text = repo_file("scripts/cron.example");
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .expect("a cron line");
    // Five schedule fields, then the command.
    let command = line
        .split_whitespace()
        .skip(5)
        .collect::<Vec<_>>()
        .join(" ");
    command.replace("/opt/ai-worker", &folder.display().to_string())
}

#[test]
fn cron_example_line_runs_and_appends_a_dated_log() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a", "b", "c"]);
    let folder: PathBuf = std::env::temp_dir().join(format!("aiw-cron-{}", t.config.db.name));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ai-worker"), folder.join("ai-worker")).unwrap();
    let db = &t.config.db;
    std::fs::write(
        folder.join(".env"),
        format!(
            "DB_HOST={}\nDB_PORT={}\nDB_USER={}\nDB_PASSWORD={}\nDB_NAME={}\nAI_KEY_SECRET=test-secret\n",
            db.host, db.port, db.user, db.password, db.name
        ),
    )
    .unwrap();
    // cron turns `\%` into `%` before the shell sees the line; so does the shell itself.
    let out = std::process::Command::new("sh")
        .args(["-c", &cron_command(&folder)])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let logs: Vec<PathBuf> = std::fs::read_dir(folder.join("logs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let log_text: Vec<String> = logs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let names: Vec<String> = logs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    std::fs::remove_dir_all(&folder).unwrap();

    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 1, 1]);
    let dated: Vec<&String> = names
        .iter()
        .filter(|n| {
            let date = n.trim_start_matches("ai-worker-").trim_end_matches(".log");
            n.starts_with("ai-worker-")
                && date.len() == 10
                && date.chars().enumerate().all(|(i, c)| match i {
                    4 | 7 => c == '-',
                    _ => c.is_ascii_digit(),
                })
        })
        .collect();
    assert_eq!(
        dated.len(),
        1,
        "one log named ai-worker-YYYY-MM-DD.log: {names:?}"
    );
    assert_eq!(log_text.len(), 1);
    assert!(
        log_text[0].contains(&format!("[Task {task}] Processing finished - 3/3 records")),
        "{}",
        log_text[0]
    );
}

#[test]
fn every_flag_readme_shows_is_one_ai_worker_knows() {
    // The program's help and every command's.
    let mut help = String::new();
    for command in [&[][..], &["model", "add"], &["model", "update"], &["serve"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ai-worker"))
            .args(command)
            .arg("--help")
            .output()
            .unwrap();
        help.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    // Flags of other programs the README shows: cargo and systemctl.
    let others = ["--release", "--locked", "--now"];
    let readme = repo_file("README.txt");
    let mut unknown = Vec::new();
    for (at, _) in readme.match_indices("--") {
        let bytes = readme.as_bytes();
        let starts_flag = bytes.get(at + 2).is_some_and(u8::is_ascii_lowercase)
            && (at == 0 || bytes[at - 1] != b'-');
        if !starts_flag {
            continue;
        }
        let flag: String = "--"
            .chars()
            .chain(
                readme[at + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-'),
            )
            .collect();
        if !others.contains(&flag.as_str()) && !help.contains(&flag) {
            unknown.push(flag);
        }
    }
    assert!(
        unknown.is_empty(),
        "README.txt shows flags --help lacks: {unknown:?}"
    );
    assert!(
        help.contains("--log-file"),
        "the check reads the real help text"
    );
}

#[test]
fn every_command_ai_worker_has_is_in_the_readme() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ai-worker"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let usage = help.split("OPTIONS:").next().unwrap();
    let mut commands = Vec::new();
    for line in usage.lines() {
        let Some(rest) = line.trim_start().strip_prefix("ai-worker ") else {
            continue;
        };
        // "model add --name ...", "pause|resume|cancel --task ID", "init-db   create ..."
        let words: Vec<&str> = rest
            .split_whitespace()
            .take_while(|w| {
                w.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '|')
            })
            .take(2)
            .filter(|w| !w.starts_with('-'))
            .collect();
        let (first, second) = (words.first().copied(), words.get(1).copied());
        for name in first
            .unwrap_or_default()
            .split('|')
            .filter(|n| !n.is_empty())
        {
            match (name, second) {
                ("model", Some(sub)) => commands.push(format!("ai-worker model {sub}")),
                (name, _) => commands.push(format!("ai-worker {name}")),
            }
        }
    }
    assert!(
        commands.len() >= 12,
        "the check reads the real help: {commands:?}"
    );
    let readme = repo_file("README.txt");
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !readme.contains(c.as_str()))
        .collect();
    assert!(missing.is_empty(), "README.txt never shows {missing:?}");
}
