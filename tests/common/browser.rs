//! Headless Chromium for the pages `serve` shows: the DOM after the page's scripts
//! ran, and screenshots kept as CI artifacts.

use std::path::Path;
use std::process::Command;

use super::output_text;

/// Whether a tool the test needs is here; in CI (CI=true) it must be.
pub fn available(what: &str, check: &mut Command) -> bool {
    let ok = check.output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "{what} is missing in CI: .ci/run installs it"
        );
        eprintln!("skipped: {what} is not installed here");
    }
    ok
}

/// Whether headless Chromium is installed (in CI it must be).
pub fn chromium() -> bool {
    available("chromium", Command::new("chromium").arg("--version"))
}

/// Chromium, headless, with a profile of its own for this process and `tag`.
fn headless(tag: &str) -> Command {
    let profile = std::env::temp_dir().join(format!("aiw-chromium-{tag}-{}", std::process::id()));
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The page's DOM after its scripts ran, as headless Chromium renders it.
pub fn rendered(url: &str) -> String {
    let out = headless("dom").args(["--dump-dom", url]).output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Saves a screenshot of `url` at `width` × `height` to `file`.
pub fn screenshot(url: &str, file: &Path, (width, height): (u32, u32)) {
    let out = headless("shot")
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(file.exists(), "no screenshot at {}", file.display());
    println!("screenshot (CI artifact): {}", file.display());
}
