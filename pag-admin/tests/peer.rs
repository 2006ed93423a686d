//! `pag peer serve` and `pag peer prove` with real sockets and real
//! keyrings: login PAGs made as pam_pag makes them, clients spawned inside
//! them as another uid with chosen groups (setpriv), unmodified clients
//! (perl's IO::Socket::UNIX: connect, maybe write, nothing else), and the
//! server's `--json` lines parsed. Needs root.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// A running `pag peer serve`.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    /// `pag peer serve` on a socket in `scratch`, with its registry and the
    /// tests' tag range, and `extra` arguments.
    fn start(scratch: &Scratch, extra: &[&str]) -> Server {
        let socket = scratch.path().join("peer.sock");
        let child = Command::new(PAG)
            .args(["peer", "serve"])
            .arg(&socket)
            .args(["--json", "--tag-gids", TAGS_ARG, "--tag-registry"])
            .arg(scratch.registry_dir())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Making it 0666 is the server's last step before accepting (and
        // tells a fresh socket from a stale one left at the same path).
        let ready = || socket.metadata().is_ok_and(|m| m.permissions().mode() & 0o777 == 0o666);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready() {
            assert!(Instant::now() < deadline, "pag peer serve never made {}", socket.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child, socket }
    }

    fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    /// Wait for it to exit (it must within 10 s) and parse its lines.
    fn lines(mut self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("pag peer serve did not finish its --count");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (mut out, mut err) = (String::new(), String::new());
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "pag peer serve: {status:?}\n{err}");
        assert!(!self.socket.exists(), "the socket outlived the server");
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

/// Run `pag peer prove` as `who` with `groups`; its stdout (the keyring
/// proved) when it succeeded.
fn prove(server: &Server, who: pag::Owner, groups: &[u32]) -> Result<i32, String> {
    let o = output(&mut as_user(who, groups, &[PAG, "peer", "prove", server.socket()]));
    if o.status.success() {
        Ok(text(&o.stdout).trim().parse().unwrap())
    } else {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        Err(text(&o.stderr))
    }
}

/// An unmodified client in perl: connect, run `then` (perl), close.
fn perl_client(who: pag::Owner, groups: &[u32], socket: &str, then: &str) -> std::process::Output {
    let script = format!(
        "use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die \"connect: $!\"; {then}"
    );
    output(&mut as_user(who, groups, &["perl", "-e", &script, socket]))
}

fn tag_for(scratch: &Scratch, pag: i32, uid: u32) -> u32 {
    scratch.registry().hand_out(&TAGS, pag::sys::KeySerial(pag), uid).unwrap().expect("a free tag")
}

#[test]
fn two_logins_of_one_user_each_prove_their_own_official_pag() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "2"]);
    let started = Instant::now();
    // Both logins at once: each proves from inside its PAG, tag in hand.
    let (one, two) = std::thread::scope(|s| {
        let login = || {
            in_login(USER, |pag| {
                let tag = tag_for(&scratch, pag, USER.uid);
                let proved = prove(&server, USER, &[tag]).expect("pag peer prove");
                assert_eq!(proved, pag, "pag peer prove printed another keyring than the login's PAG");
                (pag, tag)
            })
        };
        let a = s.spawn(login);
        let b = s.spawn(login);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(one.0, two.0);
    let lines = server.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (pag, tag) in [one, two] {
        let line =
            lines.iter().find(|l| l["pag"] == pag).unwrap_or_else(|| panic!("no line for {pag}: {lines:?}"));
        assert_eq!(line["uid"], USER.uid, "{line}");
        assert_eq!(line["proved"], true, "{line}");
        assert_eq!(line["official"], true, "{line}");
        assert_eq!(line["tag"], tag, "{line}");
        assert_eq!(line["registered_pag"], pag, "{line}");
        assert_eq!(line["note"], Value::Null, "{line}");
        assert!(line["pid"].as_i64().unwrap() > 0, "{line}");
    }
    eprintln!("two logins proved in {:?}", started.elapsed());
}

#[test]
fn a_client_that_sends_nothing_is_reported_by_its_tag_alone() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "1", "--no-challenge"]);
    let (pag, tag) = in_login(USER, |pag| {
        let tag = tag_for(&scratch, pag, USER.uid);
        let o = perl_client(USER, &[100, tag], server.socket(), "");
        assert!(o.status.success(), "{o:?}");
        (pag, tag)
    });
    let lines = server.lines();
    let l = &lines[0];
    assert_eq!((l["uid"].clone(), l["tag"].clone()), (Value::from(USER.uid), Value::from(tag)), "{l}");
    assert_eq!(l["registered_pag"], pag, "{l}");
    assert_eq!(
        (l["pag"].clone(), l["proved"].clone(), l["official"].clone()),
        (Value::Null, false.into(), false.into())
    );
    assert_eq!(l["note"], Value::Null, "{l}");
}

#[test]
fn a_silent_client_cannot_stall_the_server_beyond_its_timeout() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "1", "--timeout", "300"]);
    let started = Instant::now();
    // Connects, says nothing, stays 2 s; the server must be done long before.
    let socket = server.socket().to_owned();
    let client = std::thread::scope(|s| {
        let client = s.spawn(|| perl_client(USER, &[], &socket, "sleep 2;"));
        let lines = server.lines();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "the server waited {took:?} for a silent client");
        let l = &lines[0];
        assert_eq!(l["proved"], false, "{l}");
        assert!(l["note"].as_str().unwrap().contains("no answer within 300 ms"), "{l}");
        client.join().unwrap()
    });
    assert!(client.status.success(), "{client:?}");
}

#[test]
fn a_claim_to_another_logins_pag_proves_nothing() {
    // The other login's PAG is live; the forger, same uid, in its own plain
    // session keyring, answers the challenge with that PAG's serial.
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "1"]);
    in_login(USER, |victim| {
        in_plain_session(|_| {
            let answer = format!(
                "read($s, my $c, 9) == 9 or die 'no challenge'; print $s 'PAGR' . chr(1) . chr(0) . pack('l>', {victim});"
            );
            let o = perl_client(USER, &[], server.socket(), &answer);
            assert!(o.status.success(), "{o:?}");
        });
        let lines = server.lines();
        let l = &lines[0];
        assert_eq!((l["proved"].clone(), l["pag"].clone()), (false.into(), Value::Null), "{l}");
        assert!(
            l["note"].as_str().unwrap().contains(&format!("keyring {victim} does not hold the challenge")),
            "{l}"
        );
    });
}

#[test]
fn another_uid_in_a_login_pag_is_not_its_user_nor_its_tags_owner() {
    // A process of another uid inside USER's login PAG, holding that
    // login's tag: it may link the challenge, but the PAG and the tag are
    // USER's, so neither is reported as the peer's.
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "1"]);
    in_login(USER, |pag| {
        let tag = tag_for(&scratch, pag, USER.uid);
        assert_eq!(prove(&server, OTHER, &[tag]), Ok(pag), "the client itself did its part");
        let lines = server.lines();
        let l = &lines[0];
        assert_eq!(l["uid"], OTHER.uid, "{l}");
        assert_eq!((l["proved"].clone(), l["pag"].clone()), (false.into(), Value::Null), "{l}");
        assert_eq!((l["tag"].clone(), l["registered_pag"].clone()), (tag.into(), Value::Null), "{l}");
        let note = l["note"].as_str().unwrap();
        assert!(note.contains(&format!("but the peer is uid {}", OTHER.uid)), "{l}");
        assert!(note.contains(&format!("tag {tag} was handed to uid {}", USER.uid)), "{l}");
    });
}

#[test]
fn a_process_that_left_its_pag_keeps_only_the_tag() {
    // `keyctl session -` leaves the login's PAG for a new keyring of the
    // user's; the tag (a group) stays. The daemon sees the tag naming the
    // login, but no proof: the new keyring is the user's and not a PAG.
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "1"]);
    in_login(USER, |pag| {
        let tag = tag_for(&scratch, pag, USER.uid);
        let o = output(&mut as_user(
            USER,
            &[tag],
            &["keyctl", "session", "-", PAG, "peer", "prove", server.socket()],
        ));
        assert!(o.status.success(), "{o:?}");
        let left_to: i32 = text(&o.stdout).lines().last().unwrap().trim().parse().unwrap();
        assert_ne!(left_to, pag);
        let lines = server.lines();
        let l = &lines[0];
        assert_eq!((l["proved"].clone(), l["pag"].clone()), (false.into(), Value::Null), "{l}");
        assert_eq!((l["tag"].clone(), l["registered_pag"].clone()), (tag.into(), pag.into()), "{l}");
        assert!(l["note"].as_str().unwrap().contains(&format!("keyring {left_to} cannot be read")), "{l}");
    });
}

#[test]
fn garbage_and_a_closed_socket_are_reported_as_no_proof() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &["--count", "2", "--timeout", "1000"]);
    let garbage = perl_client(USER, &[], server.socket(), r#"print $s "GET / HTTP/1.0\r\n\r\n"; sleep 1;"#);
    assert!(garbage.status.success(), "{garbage:?}");
    let closed = perl_client(USER, &[], server.socket(), "close $s;");
    assert!(closed.status.success(), "{closed:?}");
    let lines = server.lines();
    assert!(lines.iter().all(|l| l["proved"] == false && l["pag"] == Value::Null), "{lines:?}");
    assert!(lines[0]["note"].as_str().unwrap().contains("not a proof"), "{lines:?}");
    // Which of these the server meets depends on when the close lands:
    // before the challenge is sent (EPIPE), with it unread (ECONNRESET),
    // after it was read (end of file). Each is no answer.
    let closed = lines[1]["note"].as_str().unwrap();
    assert!(
        ["cannot send the challenge", "reset by peer", "closed the connection"]
            .iter()
            .any(|n| closed.contains(n)),
        "{lines:?}"
    );
}

#[test]
fn prove_without_a_server_and_serve_on_a_file_fail_clearly() {
    let scratch = Scratch::new();
    let nowhere = scratch.path().join("nobody.sock");
    let o = output(Command::new(PAG).args(["peer", "prove"]).arg(&nowhere));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(text(&o.stderr).contains("cannot connect to"), "{o:?}");
    let file = scratch.path().join("a-file");
    std::fs::write(&file, "keep me").unwrap();
    let o = output(Command::new(PAG).args(["peer", "serve"]).arg(&file));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(text(&o.stderr).contains("exists and is not a socket"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let o = output(Command::new(PAG).args(["peer", "serve", "x", "--tag-gids", "9-1"]));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn a_stale_socket_is_replaced_and_the_socket_is_open_to_every_user() {
    let scratch = Scratch::new();
    // A socket left behind by a server that died: bound, nobody listening.
    let stale = scratch.path().join("peer.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert_ne!(stale.metadata().unwrap().permissions().mode() & 0o777, 0o666);
    // It starts (a bind over the stale socket would fail: it was removed),
    // makes the new one 0666, and another uid can connect.
    let server = Server::start(&scratch, &["--count", "1", "--no-challenge"]);
    assert!(perl_client(OTHER, &[], server.socket(), "").status.success());
    assert_eq!(server.lines()[0]["uid"], OTHER.uid);
}
