//! The runner against real processes. These start programs as `nobody`
//! with a new session keyring, so they need root; as another user each
//! fails and says why.

use super::*;

fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test starts programs as another user (setresuid) in a PID namespace: it needs root"
    );
}

fn sh(script: &str, timeout: u64) -> Run {
    require_root();
    Run {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        user: "nobody".into(),
        uid: 65534,
        gid: 65534,
        env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
        timeout: Duration::from_secs(timeout),
        extra_fds: Vec::new(),
        extra_groups: Vec::new(),
    }
}

fn collect(spec: &Run, pid_namespace: bool) -> (Report, Vec<(Stream, String)>, Duration) {
    let mut lines = Vec::new();
    let start = Instant::now();
    let report = run_contained(spec, pid_namespace, &mut |s, l| {
        lines.push((s, String::from_utf8_lossy(l).into_owned()))
    });
    (report, lines, start.elapsed())
}

fn out(lines: &[(Stream, String)]) -> Vec<&str> {
    lines.iter().map(|(_, l)| l.as_str()).collect()
}

/// Is a process whose command line contains `marker` still alive?
fn alive(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(marker))
            .unwrap_or(false)
    })
}

/// A unique `sleep` duration to find a left-behind process by.
fn marker(tag: u32) -> String {
    format!("{}.{}{}", 40 + tag, std::process::id(), tag)
}

#[test]
fn lines_are_split_cut_and_capped() {
    let mut got = Vec::new();
    let mut relay = |s: Stream, l: &[u8]| got.push((s, l.to_vec()));
    let mut caps = Caps { lines: 0, bytes: 0, dropped_lines: 0, dropped_bytes: 0, relay: &mut relay };
    let mut split = Splitter::default();
    split.feed(b"one\r\ntwo\npa", Stream::Stderr, &mut caps);
    split.feed(b"rt\n", Stream::Stderr, &mut caps);
    let mut long = vec![b'x'; 5000];
    long.push(b'\n');
    split.feed(&long, Stream::Stderr, &mut caps);
    split.feed(b"tail", Stream::Stderr, &mut caps);
    split.finish(Stream::Stderr, &mut caps);
    assert_eq!(caps.dropped_bytes, 4000, "the cut-off rest of the long line");
    for _ in 0..200 {
        split.feed(b"y\n", Stream::Stdout, &mut caps);
    }
    assert_eq!((caps.lines, caps.dropped_lines), (MAX_LINES, 105));
    assert_eq!(
        got[..3],
        [
            (Stream::Stderr, b"one".to_vec()),
            (Stream::Stderr, b"two".to_vec()),
            (Stream::Stderr, b"part".to_vec())
        ]
    );
    assert_eq!(got[3].1.len(), MAX_LINE);
    assert_eq!(got[4].1, b"tail");
    assert_eq!(got.len(), MAX_LINES as usize);
}

#[test]
fn byte_cap_holds_with_long_lines() {
    let mut n = 0;
    let mut relay = |_: Stream, l: &[u8]| n += l.len() + 1;
    let mut caps = Caps { lines: 0, bytes: 0, dropped_lines: 0, dropped_bytes: 0, relay: &mut relay };
    let mut split = Splitter::default();
    let line = [b'z'; 999];
    for _ in 0..40 {
        split.feed(&line, Stream::Stdout, &mut caps);
        split.feed(b"\n", Stream::Stdout, &mut caps);
    }
    assert_eq!((caps.lines, caps.dropped_lines), (16, 24));
    assert!(n as u64 <= MAX_BYTES);
}

#[test]
fn runs_as_the_user_as_pid_1_in_a_throwaway_keyring() {
    let spec = sh("echo pid $$; id -u; id -g; keyctl rdescribe @s; pwd; ls -l /proc/self/fd/0 | sed 's/.*-> //'; ulimit -t; ulimit -c", 5);
    let (report, lines, _) = collect(&spec, true);
    assert_eq!(report.outcome, Outcome::Exited(0), "{lines:?}");
    assert_eq!(report.containment, Containment::PidNamespace);
    assert_eq!(
        out(&lines),
        ["pid 1", "65534", "65534", "keyring;0;0;0f000000;_ses", "/", "/dev/null", "5", "0"]
    );
}

#[test]
fn extra_groups_join_the_users_own() {
    let (report, lines, _) = collect(&sh("id -G", 5), true);
    assert_eq!(report.outcome, Outcome::Exited(0), "{lines:?}");
    assert_eq!(out(&lines), ["65534"]);
    let spec = Run { extra_groups: vec![70_123, 65534], ..sh("id -G", 5) };
    let (report, lines, _) = collect(&spec, true);
    assert_eq!(report.outcome, Outcome::Exited(0), "{lines:?}");
    assert_eq!(out(&lines), ["65534 70123"]);
}

#[test]
fn the_program_cannot_keep_or_repermission_its_keyring() {
    let spec = sh(
        "keyctl link @s @u 2>/dev/null && echo linked; keyctl setperm @s 0x3f000000 2>/dev/null && echo reperm; \
         keyctl rdescribe @s",
        5,
    );
    let (report, lines, _) = collect(&spec, true);
    assert_eq!(report.outcome, Outcome::Exited(0));
    assert_eq!(out(&lines), ["keyring;0;0;0f000000;_ses"]);
}

#[test]
fn deadline_holds_when_the_program_closes_its_pipes() {
    for pid_namespace in [true, false] {
        let m = marker(u32::from(pid_namespace));
        let spec = sh(&format!("exec >/dev/null 2>&1; setsid sleep {m} & sleep {m}"), 1);
        let (report, _, elapsed) = collect(&spec, pid_namespace);
        assert_eq!(report.outcome, Outcome::TimedOut);
        assert!(elapsed < Duration::from_millis(1900), "{elapsed:?}");
        std::thread::sleep(Duration::from_millis(100));
        if pid_namespace {
            assert!(!alive(&m), "the setsid grandchild survived");
        } else {
            assert!(matches!(report.containment, Containment::ProcessGroup(_)));
            // A process group cannot hold a grandchild that left it with
            // setsid; clean up after the test.
            let _ = std::process::Command::new("pkill").args(["-f", &format!("sleep {m}")]).status();
        }
    }
}

#[test]
fn when_pid_1_exits_its_descendants_go_too() {
    let m = marker(2);
    let spec = sh(&format!("setsid sleep {m} </dev/null >/dev/null 2>&1 & echo bye"), 5);
    let (report, lines, elapsed) = collect(&spec, true);
    assert_eq!((report.outcome, out(&lines)), (Outcome::Exited(0), vec!["bye"]));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(!alive(&m), "the setsid grandchild survived pid 1");
}

#[test]
fn the_process_group_fallback_kills_what_stayed_in_the_group() {
    let m = marker(3);
    let spec = sh(&format!("sleep {m} & echo started"), 5);
    let (report, lines, elapsed) = collect(&spec, false);
    assert_eq!((report.outcome, out(&lines)), (Outcome::Exited(0), vec!["started"]));
    assert_eq!(report.containment, Containment::ProcessGroup("no PID namespace: not tried".into()));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(&m), "the background child survived");
}

#[test]
fn a_chatty_program_is_capped_and_drained_until_the_deadline() {
    require_root();
    let spec = Run { program: "/usr/bin/yes".into(), args: vec![], ..sh("", 1) };
    let (report, lines, elapsed) = collect(&spec, true);
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert_eq!(lines.len(), MAX_LINES as usize);
    assert!(report.dropped_lines > 1000, "{report:?}");
    assert_eq!(report.dropped_bytes, report.dropped_lines * 2);
    assert!(elapsed < Duration::from_millis(1900), "{elapsed:?}");
}

#[test]
fn exit_status_signal_and_exec_failure() {
    let (report, _, _) = collect(&sh("exit 3", 5), true);
    assert_eq!(report.outcome, Outcome::Exited(3));
    let (report, _, _) = collect(&sh("kill -9 $$", 5), false);
    assert_eq!(report.outcome, Outcome::Signalled(9));
    let spec = Run { program: "/nonexistent/aklog".into(), ..sh("", 5) };
    let (report, _, _) = collect(&spec, true);
    assert_eq!(report.outcome, Outcome::NotStarted("No such file or directory".into()));
}

#[test]
fn environment_is_exactly_what_was_given_and_extra_fds_arrive() {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut spec = sh("env | sort; echo handed-over >&3; ls /proc/self/fd | sort -n | tr '\\n' ' '", 5);
    spec.env.push(("A".into(), "b c".into()));
    spec.extra_fds.push(PassFd { fd: Arc::new(w), target: 3 });
    let (report, lines, _) = collect(&spec, true);
    drop(spec);
    assert_eq!(report.outcome, Outcome::Exited(0));
    let mut got = out(&lines);
    let fds = got.pop().unwrap();
    assert_eq!(fds.trim(), "0 1 2 3 4", "only 0-3 and ls's own directory descriptor");
    got.retain(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="));
    assert_eq!(got, ["A=b c", "PATH=/usr/local/bin:/usr/bin:/bin"]);
    let mut text = String::new();
    File::from(r).read_to_string(&mut text).unwrap();
    assert_eq!(text, "handed-over\n");
}
