//! The local stack's servers end with their handle, even a server that does not act on SIGTERM:
//! nothing a test starts is left running after it.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use local_stack::local::{LocalServer, Stopped};

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Stops `server` and says how it went (in a thread: a stop that never returns fails the test
/// after 30 s instead of hanging it).
fn stop(mut server: LocalServer) -> Stopped {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(server.stop());
    });
    finished.recv_timeout(Duration::from_secs(30)).expect("stopping did not return within 30 s")
}

#[test]
fn a_server_is_gone_once_its_handle_is_dropped_even_one_that_ignores_sigterm() {
    for (name, server) in [("moto", LocalServer::start()), ("dynalite", LocalServer::dynalite())] {
        let server = server.unwrap_or_else(|e| panic!("{name}: {e}"));
        let pid = server.pid().expect("the server's process id");
        assert!(alive(pid), "{name} runs");
        // A stopped process leaves SIGTERM pending: only SIGKILL ends it.
        assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        assert_eq!(stop(server), Stopped::Killed, "{name}: ended by SIGKILL after the grace period");
        assert!(!alive(pid), "{name} (pid {pid}) is still running");
    }
}

#[test]
fn a_server_that_stops_on_sigterm_is_gone_at_once() {
    let server = LocalServer::start().expect("moto");
    let pid = server.pid().expect("the server's process id");
    assert_eq!(stop(server), Stopped::Ended, "ended by SIGTERM, without waiting for the grace period");
    assert!(!alive(pid));
}
