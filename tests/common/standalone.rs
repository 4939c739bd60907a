//! `runcomfy emulator` as a process of its own: what users run, and what
//! outlives a CLI that is killed.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// The standalone emulator, killed on drop.
pub struct Standalone {
    child: Child,
    /// Its API's base URL.
    pub base: String,
}

impl Standalone {
    /// Starts `runcomfy emulator --port 0` (unless `args` name a port)
    /// with `args` and waits for the line that says where it listens.
    pub fn start(args: &[&str]) -> Self {
        Self::start_binary(std::path::Path::new(env!("CARGO_BIN_EXE_runcomfy")), args)
    }

    /// As [`start`](Self::start), with another build's `runcomfy` binary.
    pub fn start_binary(binary: &std::path::Path, args: &[&str]) -> Self {
        let port: &[&str] = if args.contains(&"--port") {
            &[]
        } else {
            &["--port", "0"]
        };
        let mut command = Command::new(binary);
        command.arg("emulator").args(port).args(args);
        Self::spawn(command)
    }

    /// Runs `command`, which must start an emulator (through a shell that
    /// sets limits first, say), and waits for the line that says where it
    /// listens.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the emulator's command starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the emulator prints its address");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Self { child, base }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An emulator with one worker, busy for an hour with the first job:
    /// a second job stays queued (so that there is something to cancel).
    pub fn with_one_busy_worker(extra: &[&str]) -> Self {
        let busy = ["--workers", "1", "--queue-delay", "0", "--run-time", "3600"];
        Self::start(&[&busy[..], extra].concat())
    }

    /// A `runcomfy` command pointed at this emulator (its base URL and
    /// token in the environment), run in `dir`, its output piped.
    pub fn cli(&self, dir: &std::path::Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runcomfy"));
        command
            .current_dir(dir)
            .env("RUNCOMFY_BASE_URL", &self.base)
            .env("RUNCOMFY_TOKEN", "emulator-token")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Stops the emulator as Ctrl-C does and returns what it printed then
    /// (stdout) and logged (stderr).
    pub fn interrupt(mut self) -> (String, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("wait");
        let mut out = String::new();
        if let Some(stdout) = self.child.stdout.as_mut() {
            stdout.read_to_string(&mut out).expect("read stdout");
        }
        let mut log = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            stderr.read_to_string(&mut log).expect("read log");
        }
        (out, log)
    }

    /// Stops the emulator and returns what it logged.
    pub fn stop(mut self) -> String {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
        let mut log = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            stderr.read_to_string(&mut log).expect("read log");
        }
        log
    }

    /// `runcomfy --json batch status OUT` in `dir`: the batch journal's
    /// report, or null if it printed none.
    pub fn batch_status(&self, dir: &std::path::Path, out: &str) -> serde_json::Value {
        let output = self
            .cli(dir)
            .args(["--json", "batch", "status", out])
            .output()
            .expect("runs");
        serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Its counters (`GET /_emulator/counters`).
    pub async fn counters(&self) -> serde_json::Value {
        self.admin("counters").await
    }

    /// Every job it holds (`GET /_emulator/jobs`).
    pub async fn jobs(&self) -> Vec<serde_json::Value> {
        serde_json::from_value(self.admin("jobs").await).expect("a list of jobs")
    }

    /// `GET /_emulator/{what}`, as JSON.
    async fn admin(&self, what: &str) -> serde_json::Value {
        super::http()
            .get(format!("{}/_emulator/{what}", self.base))
            .send()
            .await
            .expect("the admin API answers")
            .json()
            .await
            .expect("JSON")
    }

    /// Scripts a fault (`POST /_emulator/faults`).
    pub async fn fault(&self, script: serde_json::Value) {
        let response = super::http()
            .post(format!("{}/_emulator/faults", self.base))
            .json(&script)
            .send()
            .await
            .expect("faults answer");
        assert!(
            response.status().is_success(),
            "{script}: {}",
            response.status()
        );
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
