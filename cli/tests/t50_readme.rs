//! The README's console examples, run as written: every ```console block after a
//! `<!-- readme-test -->` line, in order, in one fresh environment (a temp `$HOME`,
//! so `~/.shoal` is a fresh home), with the built binaries first on the PATH. The
//! first node (what `scripts/run` starts) is started here; the README's fixed ports
//! 7420–7422 and `/tmp/nN` homes are replaced by free ports and temp directories.
//!
//! Each `$ ` line is run with `sh -c` and must exit 0; the lines after it, up to the
//! next `$ `, are its expected stdout, each compared after dropping a trailing
//! `  # comment` (a command followed by no lines may print anything). An expected line `...` stands for any number of lines; a line ending
//! in `...` matches any line that starts with the rest. A command ending in `&` is
//! started in the background (and killed at the end). Read-only commands (`cluster`,
//! `nodes`, `status`, `list`, `logs`) are retried for up to 60 s until they match, as a
//! user waiting for nodes to catch up would.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `$ ` line and what it should print.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The marked console blocks of `text`, in order.
fn marked_blocks(text: &str) -> Vec<Vec<Step>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- readme-test -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```console",
            "a marker must precede a console block"
        );
        let mut steps: Vec<Step> = Vec::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            match l.strip_prefix("$ ") {
                Some(cmd) => steps.push(Step {
                    command: strip_comment(cmd).to_string(),
                    expected: Vec::new(),
                }),
                None => steps
                    .last_mut()
                    .expect("output before any command")
                    .expected
                    .push(strip_comment(l).to_string()),
            }
        }
        blocks.push(steps);
    }
    blocks
}

/// `cmd   # what it does` -> `cmd`. A `#` must follow two spaces to start a comment,
/// so `$?` and `#` inside words stay.
fn strip_comment(line: &str) -> &str {
    match line.find("  #") {
        Some(i) => line[..i].trim_end(),
        None => line.trim_end(),
    }
}

/// Whether `actual` lines match the `expected` pattern lines.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => match actual.split_first() {
            None => false,
            Some((a, arest)) => {
                let ok = match e.strip_suffix("...") {
                    Some(prefix) => a.starts_with(prefix),
                    None => a.trim_end() == e,
                };
                ok && matches(rest, arest)
            }
        },
    }
}

fn read_only(command: &str) -> bool {
    let word = command.split_whitespace().nth(1).unwrap_or_default();
    command.starts_with("shoal ") && ["cluster", "nodes", "status", "list", "logs"].contains(&word)
}

struct Env {
    home: tempfile::TempDir,
    path: String,
    /// README text -> what this run uses instead.
    replace: Vec<(String, String)>,
    background: Vec<Child>,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().expect("tempdir");
        let bin = Path::new(env!("CARGO_BIN_EXE_shoal"))
            .parent()
            .expect("bin dir")
            .to_path_buf();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut replace = Vec::new();
        for port in [7420, 7421, 7422] {
            let free = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            replace.push((format!("/tcp/{port}"), format!("/tcp/{free}")));
        }
        for n in 1..=5 {
            let dir: PathBuf = home.path().join(format!("n{n}"));
            replace.push((format!("/tmp/n{n}"), dir.display().to_string()));
        }
        Env {
            home,
            path,
            replace,
            background: Vec::new(),
        }
    }

    fn rewrite(&self, command: &str) -> String {
        self.replace
            .iter()
            .fold(command.to_string(), |c, (from, to)| c.replace(from, to))
    }

    fn sh(&self, command: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(command)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("PATH", &self.path)
            .env_remove("SHOAL_HOME")
            .env_remove("SHOAL_LISTEN")
            .env_remove("SHOAL_BOOTSTRAP")
            .env("NO_COLOR", "1");
        c
    }

    fn spawn(&mut self, command: &str, log: &str) {
        let out = std::fs::File::create(self.home.path().join(log)).expect("log file");
        let child = self
            .sh(&format!("exec {command}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn");
        self.background.push(child);
    }

    fn run(&mut self, step: &Step, n: usize) {
        let command = self.rewrite(&step.command);
        if let Some(bg) = command.strip_suffix('&') {
            self.spawn(bg.trim_end(), &format!("background-{n}.log"));
            return;
        }
        let deadline = Instant::now()
            + if read_only(&command) {
                Duration::from_secs(60)
            } else {
                Duration::ZERO
            };
        loop {
            let out = self.sh(&command).output().expect("sh");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let lines: Vec<&str> = stdout.lines().collect();
            let ok = out.status.success()
                && (step.expected.is_empty() || matches(&step.expected, &lines));
            if ok {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "README command {:?} (run as {command:?}) {}:\n--- expected\n{}\n--- stdout\n{stdout}--- stderr\n{}\n--- background logs\n{}",
                    step.command,
                    if out.status.success() { "printed something else".to_string() } else { format!("failed ({})", out.status) },
                    step.expected.join("\n"),
                    String::from_utf8_lossy(&out.stderr),
                    self.logs(),
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(dir) = std::fs::read_dir(self.home.path()) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".log") {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(20).collect();
                    all.push_str(&format!("== {name}\n"));
                    for l in tail.into_iter().rev() {
                        all.push_str(l);
                        all.push('\n');
                    }
                }
            }
        }
        all
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &mut self.background {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn the_readme_examples_print_what_the_readme_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let blocks = marked_blocks(&readme);
    assert!(
        blocks.len() >= 2,
        "the tour and the one-machine example are marked"
    );
    let mut env = Env::new();
    // What `scripts/run` starts: `shoal node`, creating ~/.shoal on first start.
    let first = env.rewrite("shoal node --listen /ip4/127.0.0.1/tcp/7420");
    env.spawn(&first, "first-node.log");
    common::eventually(Duration::from_secs(30), "the first node leads", || {
        let out = env.sh("shoal cluster --json").output().expect("sh");
        String::from_utf8_lossy(&out.stdout).contains("\"leader\":\"")
    });
    let mut n = 0;
    for block in &blocks {
        for step in block {
            n += 1;
            env.run(step, n);
        }
    }
}

#[test]
fn the_pattern_rules_hold() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["1"]), &["1"]));
    assert!(!matches(&e(&["1"]), &["2"]));
    assert!(!matches(&e(&["1"]), &["1", "2"]));
    assert!(matches(&e(&["..."]), &[]));
    assert!(matches(&e(&["a", "...", "z"]), &["a", "b", "c", "z"]));
    assert!(matches(
        &e(&["9 cancelled..."]),
        &["9 cancelled (killing it)"]
    ));
    assert!(!matches(&e(&["9 cancelled..."]), &["8 cancelled"]));
    assert_eq!(
        strip_comment("shoal wait 2; echo $?"),
        "shoal wait 2; echo $?"
    );
    assert_eq!(strip_comment("6      # a job array"), "6");
    assert!(read_only("shoal cluster | grep voters"));
    assert!(!read_only("shoal submit -- true"));
}
