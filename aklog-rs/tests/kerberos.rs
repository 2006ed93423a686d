//! aklog against a real MIT KDC: token contents, principal choice, cache
//! types and every Kerberos exit code. Each run is in its own fresh session
//! keyring (`keyctl session -`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use pag::token::rxrpc::RxkadToken;
use pag_tests::kdc::SilentPort;

/// The token aklog stored for `cell` must be the ticket in the cache, its
/// end time, and the rxkad-kdf of its session key as an independent Python
/// implementation computes it. Returns the token and the reference's JSON.
fn check_token_against_cache(cell: &str, service: &str, enctype: u64) -> (RxkadToken, serde_json::Value) {
    let fx = fixture();
    let ccache = fx.file_ccache("cc");
    let out = fx.session(&ccache, &format!("aklog -c {cell} || exit $?\n{}", pipe_token(cell)));
    assert_eq!(out.code, 0, "{out:?}");
    let payload = hex(out.stdout.trim());
    let token = RxkadToken::decode(&payload).expect("the stored payload decodes as the kernel would");

    let path = ccache.strip_prefix("FILE:").unwrap();
    let r = reference(&[path, service]);
    assert_eq!(r["enctype"].as_u64(), Some(enctype), "session key enctype: {r}");
    assert_eq!(token.ticket, hex(r["ticket"].as_str().unwrap()), "ticket bytes differ from the cache");
    assert_eq!(u64::from(token.expiry), r["endtime"].as_u64().unwrap(), "expiry is not the ticket end time");
    assert_eq!(token.kvno, 256);
    assert_eq!(
        token.session_key.to_vec(),
        hex(r["rxkad_key"].as_str().unwrap()),
        "rxkad-kdf differs from Python's"
    );
    // The payload header as the kernel's rxrpc_preparse reads it.
    assert_eq!(&payload[0..4], &1u32.to_ne_bytes());
    assert_eq!(&payload[4..6], &2u16.to_ne_bytes());
    (token, r)
}

#[test]
fn aes256_session_key_token_matches_the_ticket_in_the_cache() {
    check_token_against_cache("example.org", "afs/example.org@AKLOG.TEST", 18);
}

#[test]
fn aes128_session_key_token_matches_the_ticket_in_the_cache() {
    check_token_against_cache("aes128.example.org", "afs/aes128.example.org@AKLOG.TEST", 17);
}

/// A real des3-cbc-sha1 session key (enctype 16) from the KDC: the token key
/// is rxkad-kdf over the 21 bytes left when the parity bits are stripped
/// (OpenAFS's tkt_DeriveDesKey), not over the 24 key bytes.
#[test]
fn des3_session_key_token_matches_openafs_parity_stripped_kdf() {
    let (token, r) = check_token_against_cache("des3.example.org", "afs/des3.example.org@AKLOG.TEST", 16);
    assert_eq!(hex(r["key"].as_str().unwrap()).len(), 24, "{r}");
    assert_eq!(hex(r["des3_material"].as_str().unwrap()).len(), 21, "{r}");
    assert_ne!(
        token.session_key.to_vec(),
        hex(r["raw_kdf_key"].as_str().unwrap()),
        "the token key is the rxkad-kdf of all 24 bytes, parity included"
    );

    // libkrb5 and aklog agree that the session key is triple DES.
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "aklog -d -c des3.example.org || exit $?; klist -e");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("(session key enctype 16)"), "{}", out.stderr);
    // krb5 1.20 prints "Etype (skey, tkt): DEPRECATED:des3-cbc-sha1, ...",
    // on the ticket's last line (after "renew until ..." where there is one).
    let skey = out
        .stdout
        .lines()
        .skip_while(|l| !l.contains("afs/des3.example.org@"))
        .find_map(|l| l.split_once("Etype (skey, tkt): "))
        .and_then(|(_, etypes)| etypes.split(", ").next());
    assert!(skey.is_some_and(|e| e.ends_with("des3-cbc-sha1")), "session key type {skey:?}: {}", out.stdout);
}

#[test]
fn kdf_agrees_with_python_on_many_keys() {
    for (i, len) in [16usize, 32, 16, 32, 24, 5].into_iter().enumerate() {
        let key: Vec<u8> = (0..len).map(|j| (j * 37 + i * 101 + 7) as u8).collect();
        let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let r = reference(&["--kdf", &hexkey]);
        let ours = aklog::kdf::rxkad_kdf(&key).unwrap();
        assert_eq!(ours.to_vec(), hex(r["rxkad_key"].as_str().unwrap()), "key {hexkey}");
    }
    // Triple-DES keys (any bytes, parity right or not) lose their parity
    // bits first, in Python as in OpenAFS.
    for i in 0..4usize {
        let key: Vec<u8> = (0..24).map(|j| (j * 53 + i * 71 + 11) as u8).collect();
        let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
        for enctype in [5, 7, 16] {
            let r = reference(&["--kdf", &hexkey, &enctype.to_string()]);
            let ours = aklog::kdf::rxkad_session_key(enctype, &key).unwrap();
            assert_eq!(
                ours.to_vec(),
                hex(r["rxkad_key"].as_str().unwrap()),
                "enctype {enctype} key {hexkey}"
            );
        }
    }
}

#[test]
fn realm_named_cell_falls_back_to_afs_at_realm() {
    let fx = fixture();
    let out = fx.session(&fx.file_ccache("cc"), "aklog -d -c aklog.test && klist && tokens --json");
    assert_fails(&out, 0, "ticket for afs@AKLOG.TEST");
    assert!(out.stdout.contains("afs@AKLOG.TEST"), "klist shows the ticket: {}", out.stdout);
    let v = json_tokens(&out.stdout);
    assert_eq!(v["tokens"][0]["cell"], "aklog.test");
}

#[test]
fn several_cells_at_once_and_realm_from_domain_mapping_or_k() {
    let fx = fixture();
    let out = fx.session(
        &fx.file_ccache("cc"),
        "aklog -cell example.org --cell aklog.test -c aes128.example.org || exit $?; tokens --json",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let v = json_tokens(&out.stdout);
    let mut cells: Vec<&str> =
        v["tokens"].as_array().unwrap().iter().map(|t| t["cell"].as_str().unwrap()).collect();
    cells.sort();
    assert_eq!(cells, ["aes128.example.org", "aklog.test", "example.org"]);
    for t in v["tokens"].as_array().unwrap() {
        assert_eq!(t["principal"], "user@AKLOG.TEST");
        assert_eq!(t["expired"], false);
    }
    // A cell with no mapping and no -k: the realm is the cell in upper case.
    let out = fx.session(&fx.file_ccache("cc2"), "aklog -d -c unmapped.cell");
    assert_fails(&out, 4, "afs/unmapped.cell@UNMAPPED.CELL");
    // -k names the realm.
    let out = fx.session(&fx.file_ccache("cc3"), "aklog -d -c other.cell -k AKLOG.TEST");
    assert_fails(&out, 4, "afs/other.cell@AKLOG.TEST");
}

#[test]
fn partial_success_exits_2_and_keeps_the_good_token() {
    let fx = fixture();
    let out = fx.session(
        &fx.file_ccache("cc"),
        "aklog -c example.org -c nosuch.example.org; echo rc=$?; tokens --json",
    );
    assert!(out.stdout.starts_with("rc=2\n"), "{out:?}");
    let v = json_tokens(&out.stdout);
    assert_eq!(v["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(v["tokens"][0]["cell"], "example.org");
    assert!(out.stderr.contains("afs/nosuch.example.org@AKLOG.TEST"), "{}", out.stderr);
}

#[test]
fn unknown_service_exits_4_naming_every_principal_tried() {
    let fx = fixture();
    fx.kdc.kadmin("delprinc -force afs").unwrap();
    let out = fx.session(&fx.file_ccache("cc"), "aklog -c aklog.test");
    assert_fails(&out, 4, "tried afs/aklog.test@AKLOG.TEST, afs@AKLOG.TEST");
}

#[test]
fn no_cache_exits_4_naming_krb5ccname() {
    let fx = fixture();
    let ccache = fx.file_ccache("never-made");
    let out = fx.session_as(Session::Fresh, &ccache, false, "aklog -c example.org");
    assert_fails(&out, 4, &format!("KRB5CCNAME={ccache}"));
    assert!(out.stderr.contains("kinit"), "{}", out.stderr);
}

#[test]
fn expired_tgt_exits_4_naming_krb5ccname() {
    let fx = fixture();
    let ccache = fx.file_ccache("short");
    fx.kdc.kinit_password_args(USER, PASSWORD, &ccache, &["-l", "2s"]).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let out = fx.session_as(Session::Fresh, &ccache, false, "aklog -c example.org");
    assert_fails(&out, 4, "expired");
    assert!(out.stderr.contains("KRB5CCNAME="), "{}", out.stderr);
}

#[test]
fn unreachable_kdc_exits_4_within_krb5_timeouts() {
    let fx = fixture();
    let ccache = fx.file_ccache("cc");
    fx.kdc.kinit_password(USER, PASSWORD, &ccache).unwrap();
    let silent = SilentPort::bind().unwrap();
    let dead = fx.kdc.write_client_config("dead.conf", "", Some(silent.addr())).unwrap();
    let started = Instant::now();
    let out = fx
        .command("keyctl", &ccache)
        .env("KRB5_CONFIG", &dead)
        .args(["session", "-", "aklog", "-c", "example.org"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach a KDC of realm AKLOG.TEST"), "{stderr}");
    // MIT krb5 1.20 gives up after about 27 s here (UDP and TCP retries).
    assert!(took < Duration::from_secs(90), "took {took:?}");
}

fn cache_type_works(ccache: &str) {
    let fx = fixture();
    let out = fx.session(ccache, "aklog -c example.org || exit $?; klist; tokens --json; kdestroy");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("afs/example.org@AKLOG.TEST"),
        "the ticket went into {ccache}: {}",
        out.stdout
    );
    let v = json_tokens(&out.stdout);
    assert_eq!(v["tokens"][0]["cell"], "example.org");
    assert_eq!(v["tokens"][0]["principal"], "user@AKLOG.TEST");
}

#[test]
fn file_cache() {
    let fx = fixture();
    cache_type_works(&fx.file_ccache("file-cc"));
}

#[test]
fn dir_cache() {
    let dir = tempfile::tempdir().unwrap();
    cache_type_works(&format!("DIR:{}", dir.path().display()));
}

#[test]
fn keyring_session_cache() {
    cache_type_works("KEYRING:session:aklog-test");
}

#[test]
fn keyring_persistent_cache() {
    cache_type_works(&format!("KEYRING:persistent:{}", nix::unistd::getuid()));
}

#[test]
fn identical_token_is_kept_unless_forced() {
    let fx = fixture();
    let script = format!(
        "aklog -d -c example.org 2>&1; echo ==; aklog -d -c example.org 2>&1; echo ==; \
         aklog -d -force -c example.org 2>&1; echo ==; {pipe}; kdestroy; \
         printf '%s\\n' \"$PW\" | kinit {USER} >/dev/null; aklog -c example.org; {pipe}",
        pipe = pipe_token("example.org")
    );
    let out = fx.session(&fx.file_ccache("cc"), &script);
    let parts: Vec<&str> = out.stdout.split("==\n").collect();
    assert_eq!(parts.len(), 4, "{out:?}");
    assert!(parts[0].contains("token stored"), "first run: {}", parts[0]);
    assert!(
        parts[1].contains("identical valid token is there; kept") && !parts[1].contains("token stored"),
        "{}",
        parts[1]
    );
    assert!(parts[2].contains("token stored"), "-force: {}", parts[2]);
    let payloads: Vec<&str> = parts[3].lines().collect();
    assert_eq!(payloads.len(), 2, "{}", parts[3]);
    assert_ne!(payloads[0], payloads[1], "a new ticket must replace the token without -force");
}

#[test]
fn a_realm_without_a_path_or_a_kdc_is_named_as_such() {
    let fx = fixture();
    // The cell's realm (its name in upper case) has no cross-realm key in
    // the local KDC: the local KDC is to blame, not NOSUCH.CELL.INVALID's.
    let out = fx.session(&fx.file_ccache("cc"), "aklog -c nosuch.cell.invalid");
    assert_fails(
        &out,
        4,
        "cell nosuch.cell.invalid: your KDC (AKLOG.TEST) has no cross-realm path to NOSUCH.CELL.INVALID",
    );
    assert!(!out.stderr.contains("the KDC of realm NOSUCH"), "{}", out.stderr);
    // A realm the local KDC trusts, but which krb5.conf gives no KDC (and
    // the fixture turns DNS lookup off).
    fx.kdc.add_random_principal("krbtgt/OTHER.REALM").unwrap();
    let out = fx.session(&fx.file_ccache("cc2"), "aklog -c some.cell -k OTHER.REALM");
    assert_fails(
        &out,
        4,
        "cell some.cell: no Kerberos realm OTHER.REALM known to this host (krb5.conf has no KDC for it and \
         DNS lookup is off)",
    );
}
