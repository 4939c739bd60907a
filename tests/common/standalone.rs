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
    /// Starts `runcomfy emulator --port 0` with `args` and waits for the
    /// line that says where it listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runcomfy"))
            .args(["emulator", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the runcomfy binary starts");
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

    /// Its counters (`GET /_emulator/counters`).
    pub async fn counters(&self) -> serde_json::Value {
        super::http()
            .get(format!("{}/_emulator/counters", self.base))
            .send()
            .await
            .expect("counters answer")
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
