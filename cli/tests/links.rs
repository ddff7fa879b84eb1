//! Links as the command names them: `--exec` command lines run exactly as `sh -c` runs
//! them, with nothing left behind when the command ends; and `--link URL` for every kind
//! of link, on `serve`, `call` and `stream`. Every process started here is stopped by its
//! pid.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::*;

fn answered(o: &Output, want: &str) {
    assert_eq!(
        (o.status.code(), stdout(o)),
        (Some(0), want.to_string()),
        "{}",
        stderr(o)
    );
}

#[test]
fn exec_runs_the_command_line_as_sh_does() {
    let dir = TempDir::new("links-exec");
    // Each form failed when the command was prefixed with `exec `.
    let forms = [
        format!("cd {} && {BIN} serve --stdio", dir.0.display()),
        format!("FOO=1 {BIN} serve --stdio"),
        format!("true; {BIN} serve --stdio"),
    ];
    for form in &forms {
        answered(&call(&["--exec", form, "add", "[1, 2]"]), "3");
        let url = format!("exec:{form}");
        answered(&call(&["--link", &url, "add", "[2, 2]"]), "4");
    }
    let o = stream(&["--exec", &forms[0], "count", "[3]"]);
    answered(&o, "0\n1\n2");
}

/// Kills a process by pid on drop, if it is still there (so a failing test leaves nothing).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if pid_alive(self.0) {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
}

#[test]
fn exec_leaves_no_process_behind_not_even_what_the_command_started() {
    let dir = TempDir::new("links-exec-group");
    let pidfile = dir.file("helper.pid");
    // The shell forks: a background helper (its own stdio, so it holds none of ours) and
    // the device. Killing the shell alone would leave both running for a while, the
    // helper for ten minutes.
    let exec = format!(
        "sleep 600 </dev/null >/dev/null 2>&1 & echo $! > '{pidfile}'; {BIN} serve --stdio; true"
    );
    answered(&call(&["--exec", &exec, "add", "[1, 2]"]), "3");
    let helper: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _guard = KillOnDrop(helper);
    assert!(
        wait_until(Duration::from_secs(5), || !pid_alive(helper)),
        "the command's helper {helper} outlived the call"
    );
}

#[test]
fn link_urls_name_every_link_for_serve_call_and_stream() {
    let dir = TempDir::new("links-urls");

    let (_tcp, addr) = serve(&["--link", "tcp://127.0.0.1:0"]);
    let tcp = format!("tcp://{addr}");
    answered(&call(&["--link", &tcp, "add", "[1, 2]"]), "3");
    answered(&stream(&["--link", &tcp, "count", "[2]"]), "0\n1");

    let sock = dir.file("s.sock");
    let (_unix, _) = serve(&["--link", &format!("unix://{sock}")]);
    answered(
        &call(&["--link", &format!("unix://{sock}"), "add", "[1, 2]"]),
        "3",
    );
    // A relative path, from the socket's directory.
    let o = Command::new(BIN)
        .current_dir(&dir.0)
        .args(["call", "--link", "unix:s.sock", "add", "[2, 3]"])
        .output()
        .unwrap();
    answered(&o, "5");

    let ptys = wirecall_tests::pty::PtyPair::start();
    let (_serial, _) = serve(&["--link", &format!("serial://{}?baud=9600", ptys.a)]);
    let port = format!("serial://{}?baud=9600", ptys.b);
    answered(&call(&["--link", &port, "add", "[1, 2]"]), "3");
    answered(&stream(&["--link", &port, "count", "[2]"]), "0\n1");
}

#[test]
fn link_urls_and_the_other_link_options_are_exclusive() {
    let o = call(&["--link", "tcp://127.0.0.1:1", "--tcp", "127.0.0.1:1", "add"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = call(&[
        "--link",
        "serial:///dev/null?baud=9600",
        "--baud",
        "9600",
        "add",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = call(&["--link", "ftp://x:1", "add"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown scheme `ftp:`"),
        "{}",
        stderr(&o)
    );
}
