//! Hostile and careless clients: garbage, huge lengths, slow senders,
//! clients that never read, hundreds at once. The daemon stays up, within
//! its bounds, and a real `klist` is still served promptly.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use support::{ok, Site};

fn connect(site: &Site) -> UnixStream {
    let s = UnixStream::connect(&site.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Whether the daemon closed `s` (EOF or reset) within its read timeout.
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn garbage_gets_an_error_or_a_closed_connection_and_the_daemon_stays_up() {
    let mut site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));

    // A 4 GiB length prefix: closed without reading (or allocating) a body.
    let mut s = connect(&site);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    assert!(closed(&mut s), "a 4 GiB request was not refused");
    // Another protocol version: closed.
    let mut s = connect(&site);
    s.write_all(&frame(&[1, 0, 0, 20])).unwrap();
    assert!(closed(&mut s));
    // A malformed body: an error reply (KRB5_CC_FORMAT), the connection stays.
    let mut s = connect(&site);
    s.write_all(&frame(&[2, 0, 0, 8, b'x'])).unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(i32::from_be_bytes(reply[8..12].try_into().unwrap()), -1765328185);
    // An unknown operation: "not supported".
    s.write_all(&frame(&[2, 0, 0x7f, 0xff])).unwrap();
    s.read_exact(&mut reply).unwrap();
    assert_eq!(i32::from_be_bytes(reply[8..12].try_into().unwrap()), -1765328137);

    // 10,000 random frames, each on its own connection or many on one.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut s = connect(&site);
    for i in 0..10_000 {
        let len = (next() % 40) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && body.len() >= 4 {
            body[0] = 2;
            body[1] = 0;
            body[2] = 0;
            body[3] = (next() % 24) as u8;
        }
        if i % 100 == 0 {
            s = connect(&site);
        }
        if s.write_all(&frame(&body)).is_err() {
            s = connect(&site);
            continue;
        }
        // Read the reply if one comes (or the close).
        let mut head = [0u8; 8];
        if s.read_exact(&mut head).is_err() {
            s = connect(&site);
            continue;
        }
        let mut rest = vec![0u8; u32::from_be_bytes(head[..4].try_into().unwrap()) as usize];
        assert!(rest.len() <= 10 << 20, "a reply over the client's 10 MiB limit");
        s.read_exact(&mut rest).unwrap();
    }
    assert!(site.daemon_alive(), "the daemon died: {}", site.log());
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("alice@EXAMPLE.ORG"), "{listed}");
}

#[test]
fn a_slow_or_stuck_client_holds_only_its_own_connection() {
    let site = Site::start_with_config("[kcm]\nrequest_timeout = 2\nidle_timeout = 3\n", &[]);
    ok(&site.kinit("alice", &[]));
    // A client that started a request and sends one byte now and then.
    let mut slow = connect(&site);
    slow.write_all(&[0, 0]).unwrap();
    let start = Instant::now();
    let mut took = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        ok(&site.tool(&["klist"]));
        took.push(t.elapsed());
        let _ = slow.write_all(&[0]);
    }
    let worst = took.iter().max().unwrap();
    assert!(*worst < Duration::from_millis(500), "klist took {worst:?} beside a slow client");
    // Its request never completed: closed at request_timeout.
    assert!(closed(&mut slow), "a stuck request was never closed");
    let closed_after = start.elapsed();
    assert!(closed_after < Duration::from_secs(5), "closed after {closed_after:?}");
    // An idle connection is closed after idle_timeout (the client reconnects).
    let mut idle = connect(&site);
    let t = Instant::now();
    assert!(closed(&mut idle));
    assert!(t.elapsed() >= Duration::from_secs(2), "idle closed after {:?}", t.elapsed());
}

#[test]
fn a_client_that_never_reads_costs_bounded_memory() {
    let mut site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    for _ in 0..20 {
        ok(&site.tool(&["kvno", "host/svc.example.org"]));
    }
    let before = site.daemon_rss_kb();
    // Ask for the credential list over and over without reading a reply.
    let mut s = connect(&site);
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut request = vec![2, 0, 0x32, 0xc9];
    request.extend_from_slice(b"0\0");
    let request = frame(&request);
    let mut sent = 0;
    while sent < 100_000 && s.write_all(&request).is_ok() {
        sent += 1;
    }
    // The daemon stopped reading once a reply could not be written.
    assert!(sent < 100_000, "the daemon kept reading from a client that never reads");
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("alice@EXAMPLE.ORG"));
    let after = site.daemon_rss_kb();
    assert!(after < before + 4096, "RSS grew from {before} kB to {after} kB");
    assert!(site.daemon_alive());
}

#[test]
fn two_hundred_clients_at_once_are_all_served() {
    let site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    // 200 connections held open, idle, as clients in the middle of work.
    let held: Vec<UnixStream> = (0..200).map(|_| connect(&site)).collect();
    let start = Instant::now();
    let results: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                let site = &site;
                scope.spawn(move || {
                    let out = site.tool(&["klist"]);
                    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("alice@EXAMPLE.ORG")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = start.elapsed();
    let served = results.iter().filter(|ok| **ok).count();
    assert_eq!(served, 200, "{served} of 200 klist runs listed the ticket: {}", site.log());
    eprintln!("200 concurrent klist runs beside 200 open connections: {took:?}");
    drop(held);
}

/// The proof hello from a process in no login's PAG: the proof names no
/// login, the client keeps its uid's collection, and KCM goes on on the
/// same connection. A hello later than first, or of another version, is
/// not taken for one.
#[test]
fn a_proof_of_no_login_keeps_the_uid_collection_and_the_connection() {
    let site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    let mut s = connect(&site);
    pag::peer::prove_with_hello(&s, Duration::from_secs(5)).expect("take part in the challenge");
    // GET_DEFAULT_CACHE then GET_PRINCIPAL on the same connection: root's own collection.
    s.write_all(&frame(&[2, 0, 0, 20])).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head[8..12], &[0, 0, 0, 0]);
    let mut name = vec![0u8; u32::from_be_bytes(head[..4].try_into().unwrap()) as usize - 4];
    s.read_exact(&mut name).unwrap();
    assert_eq!(name, b"0\0");
    let mut request = vec![2, 0, 0, 8];
    request.extend_from_slice(&name);
    s.write_all(&frame(&request)).unwrap();
    s.read_exact(&mut head).unwrap();
    assert_eq!(i32::from_be_bytes(head[8..12].try_into().unwrap()), 0, "alice's cache is not there");
    let log = site.log();
    assert!(log.contains("no proof ("), "{log}");

    // "PAGH" after a request is a 1.3 GB length: closed.
    let mut s = connect(&site);
    s.write_all(&frame(&[2, 0, 0, 20])).unwrap();
    let mut reply = [0u8; 14];
    s.read_exact(&mut reply).unwrap();
    s.write_all(&pag::peer::wire::HELLO).unwrap();
    assert!(closed(&mut s));
    // A hello of another version: closed.
    let mut s = connect(&site);
    s.write_all(b"PAGH\x07").unwrap();
    assert!(closed(&mut s));
}

/// How many of `conns` the daemon still holds open once it has had time to
/// act on them (a closed one reads EOF or a reset at once; an open one has
/// nothing to read).
fn still_open(conns: &[UnixStream]) -> usize {
    std::thread::sleep(Duration::from_millis(500));
    let open = |mut s: &UnixStream| {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    };
    conns.iter().filter(|s| open(s)).count()
}

/// Many connections of one user each announcing a large request (and
/// sending part of it): the bytes they may hold are bounded per uid, the
/// connection past the bound is closed with a log line naming it, and a
/// real klist of the same user is still served.
#[test]
fn bytes_held_for_one_users_connections_are_bounded() {
    let site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    let before = site.daemon_rss_kb();
    // 16 requests of 1,000,000 bytes fit in 16 MiB; a 17th does not.
    let conns: Vec<UnixStream> = (0..17)
        .map(|_| {
            let mut s = connect(&site);
            // The one past the bound is closed meanwhile (EPIPE): ignored here.
            let _ = s.write_all(&1_000_000u32.to_be_bytes());
            let _ = s.write_all(&[2, 0, 0, 6]);
            let _ = s.write_all(&vec![0u8; 500_000]);
            s
        })
        .collect();
    let open = still_open(&conns);
    assert_eq!(open, 16, "{}", site.log());
    assert!(
        site.log().contains("would pass the bytes one uid's connections may hold (16 MiB)"),
        "{}",
        site.log()
    );
    assert!(ok(&site.tool(&["klist"])).contains("alice@EXAMPLE.ORG"), "klist beside the held requests");
    let after = site.daemon_rss_kb();
    assert!(after < before + 20 * 1024, "RSS grew from {before} kB to {after} kB");
}

/// A client that sends the proof hello and never answers the challenge is
/// closed at request_timeout, and the challenge key (root's) goes with it.
#[test]
fn an_unanswered_challenge_is_closed_and_its_key_invalidated() {
    let site = Site::start_with_config("[kcm]\nrequest_timeout = 1\n", &[]);
    let mut s = connect(&site);
    s.write_all(&pag::peer::wire::HELLO).unwrap();
    let mut challenge = [0u8; pag::peer::wire::CHALLENGE_LEN];
    s.read_exact(&mut challenge).unwrap();
    let key = pag::peer::wire::parse_challenge(&challenge).unwrap();
    let in_proc_keys = || {
        let serial = format!("{:08x} ", key.0);
        std::fs::read_to_string("/proc/keys").unwrap().lines().any(|l| l.starts_with(&serial))
    };
    assert!(in_proc_keys(), "the challenge key {} is not in /proc/keys", key.0);
    let start = Instant::now();
    assert!(closed(&mut s), "an unanswered challenge was never closed");
    assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
    support::wait_for("the challenge key to go", || !in_proc_keys());
}

/// Where RLIMIT_NOFILE is below what max_connections needs, the daemon
/// says so and lowers the bound to it: past it connections are closed at
/// once, never left to fail accept() with EMFILE.
#[test]
fn a_low_open_files_limit_lowers_max_connections() {
    let mut site = Site::start(&[]);
    site.stop_daemon();
    site.start_daemon_under(&["prlimit", "--nofile=200:200", "--"], &[]);
    assert!(
        site.log().contains("RLIMIT_NOFILE allows 200 open files: max_connections 2048 lowered to 136"),
        "{}",
        site.log()
    );
    let conns: Vec<UnixStream> = (0..150).map(|_| connect(&site)).collect();
    let open = still_open(&conns);
    assert_eq!(open, 136, "{}", site.log());
    drop(conns);
    ok(&site.kinit("alice", &[]));
    assert!(ok(&site.tool(&["klist"])).contains("alice@EXAMPLE.ORG"));
}
