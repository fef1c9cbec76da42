//! A test server's process group, watched by a small `sh` that kills it when the test ends.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A server started in the background under an `sh` watchdog in a process group of its own.
///
/// The watchdog starts the server, then waits for its stdin to close: that happens when
/// [`stop`](Self::stop) is called, when the value is dropped, or when the test process exits
/// for any reason (the kernel closes the pipe). It then sends `SIGTERM` to the whole group
/// (uvicorn's or werkzeug's workers included, the watchdog itself excepted), waits for it and
/// runs the cleanup command. If the group has not gone within the grace period, `stop` kills
/// it by its process-group id with `SIGKILL`.
#[derive(Debug)]
pub struct ProcessGroup {
    pgid: u32,
    child: Mutex<Option<(Child, ChildStdin)>>,
}

impl ProcessGroup {
    /// Start `start` (an `sh` command line, run in the background) under the watchdog, with
    /// `args` as the positional parameters `$0`, `$1`, ... and `env` added to the environment;
    /// `cleanup` (an `sh` command line, may be empty) runs once the group has stopped.
    ///
    /// # Errors
    /// When `sh` cannot be started.
    pub fn spawn<A: AsRef<OsStr>>(
        start: &str,
        cleanup: &str,
        args: &[A],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let script =
            format!("{start} &\ncat >/dev/null\ntrap '' TERM\nkill -TERM 0\nwait\n{cleanup}\n");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the watchdog shell: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin pipe")?;
        Ok(Self {
            pgid: child.id(),
            child: Mutex::new(Some((child, stdin))),
        })
    }

    /// The process-group id (the watchdog's pid).
    #[must_use]
    pub fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Whether the watchdog has exited (it was stopped, or `sh` itself failed). A server that
    /// exits on its own leaves the watchdog waiting: ask the server (its port, its log).
    #[must_use]
    pub fn has_exited(&self) -> bool {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
            .is_none_or(|(c, _)| c.try_wait().ok().flatten().is_some())
    }

    /// Stop the group: close the watchdog's stdin and wait up to `grace` for it to finish;
    /// past that, kill the group with `SIGKILL`. Returns `true` when it had to kill (the
    /// cleanup command then did not run). Calling it again does nothing.
    pub fn stop(&self, grace: Duration) -> bool {
        let taken = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some((mut child, stdin)) = taken else {
            return false;
        };
        drop(stdin);
        let deadline = Instant::now() + grace;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg("--")
                    .arg(format!("-{}", self.pgid))
                    .stderr(Stdio::null())
                    .status();
                let _ = child.wait();
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::ProcessGroup;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn alive(pid: &str) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    }

    #[test]
    fn stop_kills_the_background_server_and_runs_the_cleanup() {
        let dir = std::env::temp_dir().join(format!("mlops-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        let group = ProcessGroup::spawn(
            r#"sh -c 'echo $$ > "$0/pid.tmp"; mv "$0/pid.tmp" "$0/pid"; exec sleep 600' "$0""#,
            r#"touch "$0/cleaned""#,
            &[&dir],
            &[],
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(Instant::now() < deadline, "the server never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_owned();
        assert!(alive(&pid));
        assert!(!group.has_exited());
        assert!(!group.stop(Duration::from_secs(10)), "it had to be killed");
        assert!(group.has_exited());
        assert!(dir.join("cleaned").exists(), "the cleanup did not run");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&pid) {
            assert!(Instant::now() < deadline, "the server outlived its group");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_server_that_exits_shows_as_exited() {
        let group = ProcessGroup::spawn("exit 3", "", &[] as &[&str], &[]).unwrap();
        // The watchdog keeps waiting on stdin even when the server is gone: it has not exited.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!group.has_exited());
        assert!(!group.stop(Duration::from_secs(10)));
    }
}
