//! `tag_gids` through a real sshd (the shipped stack, Debian's common-*
//! files) in a test container: each login's PAG gets its own tag gid, which
//! survives sshd's initgroups() in the session child; the registry and the
//! marker name the PAG; and a daemon (`pag peer serve`) sees the two
//! concurrent logins of one user prove two different official PAGs, each
//! with its own tag. Needs root.

use pag_tests::container::{As, Container, User};
use pag_tests::site::{self, Built};

type Result<T = ()> = pag_tests::container::Result<T>;

const RANGE: &str = "70000-70099";
/// Where `pag peer serve` listens inside the container.
const SOCKET: &str = "/run/peer.sock";

/// What one login printed: its groups, its PAG serial, its marker.
struct Login {
    groups: Vec<u32>,
    pag: String,
    marker: String,
}

fn login(ct: &Container, user: &str, pag_cmd: &str) -> Result<Login> {
    let script = format!(
        "id -G; echo ---; keyctl show @s | awk 'NR==2 {{print $1}}'; echo ---; \
         keyctl pipe $(keyctl search @s user pag:marker); {pag_cmd} peer prove {SOCKET} >/dev/null"
    );
    let out = ct.ssh(user).key().run(&script)?;
    out.assert_success();
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(parts.len(), 3, "{}", out.stdout);
    Ok(Login {
        groups: parts[0].split_whitespace().filter_map(|g| g.parse().ok()).collect(),
        pag: parts[1].trim().to_owned(),
        marker: parts[2].to_owned(),
    })
}

#[test]
fn two_ssh_logins_get_their_own_tags_through_initgroups_and_each_proves_its_pag_to_a_daemon() -> Result {
    let built = Built::find()?;
    let ct = Container::builder()
        .debian_pam()
        .pam("sshd", site::shipped_stack(&built, "sshd"))
        .file(
            "/etc/security/pam_pag.toml",
            &format!("[pam]\nnotokens = true\ntag_gids = \"{RANGE}\"\n"),
            0o644,
        )
        .user(User::new("tess").ssh_key())
        .sshd()
        .start()?;
    let uid = ct.user("tess").uid;
    // A daemon that identifies both logins: each proves its PAG.
    let pag_cmd = pag_tests::container::built_binary("pag")?.display().to_string();
    let serve = ct.sh_background(
        &As::Root,
        &format!("{pag_cmd} peer serve {SOCKET} --count 2 --json --tag-gids {RANGE}"),
    )?;
    let socket = ct.host_path(SOCKET).unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Two logins at once: the first stays open while the second logs in.
    let first = ct.ssh("tess").key().spawn(&format!(
        "id -G; keyctl show @s | awk 'NR==2 {{print $1}}'; {pag_cmd} peer prove {SOCKET} >/dev/null; sleep 3"
    ))?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let two = login(&ct, "tess", &pag_cmd)?;
    let one_out = first.wait(std::time::Duration::from_secs(10))?;
    let mut lines = one_out.stdout.lines();
    let one_groups: Vec<u32> =
        lines.next().unwrap_or("").split_whitespace().filter_map(|g| g.parse().ok()).collect();
    let one_pag = lines.next().unwrap_or("").trim().to_owned();
    let in_range =
        |groups: &[u32]| groups.iter().copied().filter(|g| (70_000..=70_099).contains(g)).collect::<Vec<_>>();
    let (tag_one, tag_two) = (in_range(&one_groups), in_range(&two.groups));
    assert_eq!((tag_one.len(), tag_two.len()), (1, 1), "{one_groups:?} {:?}", two.groups);
    assert_ne!(tag_one, tag_two, "two concurrent logins share a tag");
    assert_ne!(one_pag, two.pag);
    // The marker records the tag; the registry maps it to the PAG and uid.
    assert!(two.marker.contains(&format!("tag {}", tag_two[0])), "{}", two.marker);
    let registry = ct.host_path(&format!("/run/pag/tags/{}", tag_two[0])).unwrap();
    let record = std::fs::read_to_string(&registry).unwrap();
    assert_eq!(record, format!("pag {}\nuid {uid}\n", two.pag));
    let dir = std::fs::metadata(registry.parent().unwrap()).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&dir.permissions()) & 0o777, 0o700);
    // The daemon saw two different official PAGs, each proved, each with its tag.
    let seen = serve.wait(std::time::Duration::from_secs(10))?;
    let lines: Vec<&str> = seen.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{seen:?}");
    for (pag, tag) in [(&one_pag, tag_one[0]), (&two.pag, tag_two[0])] {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("\"pag\":{pag}")))
            .unwrap_or_else(|| panic!("{pag}: {seen:?}"));
        for field in [
            format!("\"uid\":{uid}"),
            "\"proved\":true".to_owned(),
            "\"official\":true".to_owned(),
            format!("\"tag\":{tag}"),
            format!("\"registered_pag\":{pag}"),
        ] {
            assert!(line.contains(&field), "{field} not in {line}");
        }
    }
    ct.teardown()?;
    Ok(())
}
