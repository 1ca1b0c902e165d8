//! README.md's worked example runs as written: the shell block under "AI-agent
//! governance: a worked example", against a real `tenantry serve` on
//! SQLite started in a fresh directory, with the built binary as
//! `tenantry` on the PATH. It needs `bash`, `curl` and `jq`; without them
//! it is skipped with a line saying so.

use std::path::Path;
use std::process::Command;

use crate::support::{ServerProcess, binary, clean_command};

const HEADING: &str = "## AI-agent governance: a worked example";

/// The first ```sh block after the worked example's heading.
fn worked_example() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md is readable");
    let section = &readme[readme.find(HEADING).expect("README.md has the worked example")..];
    let start = section.find("```sh\n").expect("the worked example has a sh block") + "```sh\n".len();
    let end = start + section[start..].find("\n```").expect("the sh block ends");
    section[start..end].to_owned()
}

fn available(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|output| output.status.success())
}

#[test]
fn the_worked_example_runs_as_written() {
    let missing: Vec<&str> = ["bash", "curl", "jq"].into_iter().filter(|tool| !available(tool)).collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED: the README's worked example needs {}", missing.join(", "));
        return;
    }
    let script = worked_example();
    let directory = tempfile::tempdir().unwrap();
    let mut serve = clean_command();
    serve.current_dir(directory.path()).args(["serve", "--listen", "127.0.0.1:0"]);
    let mut server = ServerProcess::spawn(serve);
    let address = server.wait_until_ready();

    let bin_dir = Path::new(binary()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut run = Command::new("bash");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TENANTRY_") {
            run.env_remove(name);
        }
    }
    let output = run
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(directory.path())
        .env("PATH", path)
        .env("TENANTRY_API", format!("http://{address}/v1"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the worked example failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("apr_") && lines[0].ends_with("run-7/deploy pending"), "{stdout}");
    assert_eq!(lines[1], "approved", "{stdout}");
    assert_eq!(lines[2], "requested -", "{stdout}");
    assert_eq!(lines[3], "approved inside the change window; rollback tested", "{stdout}");
    assert!(lines[4].starts_with("valid: "), "{stdout}");
    let bundle = std::fs::read_to_string(directory.path().join("evidence.jsonl")).unwrap();
    for action in ["decision.recorded", "approval.requested", "approval.approved", "service_account.created"]
    {
        assert!(bundle.contains(&format!("\"action\":\"{action}\"")), "the bundle lacks {action}");
    }
    server.terminate();
}
