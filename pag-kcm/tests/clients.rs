//! The real MIT client tools (kinit, klist, klist -A, kvno, kswitch,
//! kdestroy) against pag-kcm, with a real MIT KDC: what a user types
//! works, with the results they expect.

mod support;

use support::{ok, text, Site};

#[test]
fn kinit_klist_kvno_kdestroy_work() {
    let site = Site::start(&["--trace"]);
    let out = site.tool(&["klist"]);
    assert!(!out.status.success(), "klist before kinit: {}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));

    ok(&site.kinit("alice", &[]));
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("Ticket cache: KCM:0"), "{listed}");
    assert!(listed.contains("Default principal: alice@EXAMPLE.ORG"), "{listed}");
    assert!(listed.contains("krbtgt/EXAMPLE.ORG@EXAMPLE.ORG"), "{listed}");

    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("host/svc.example.org@EXAMPLE.ORG"), "{listed}");
    // The second kvno is served from the cache: no new TGS request.
    let tgs_before = site.kdc.log().matches("TGS_REQ").count();
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    assert_eq!(site.kdc.log().matches("TGS_REQ").count(), tgs_before, "kvno asked the KDC again");

    ok(&site.tool(&["kdestroy"]));
    let out = site.tool(&["klist"]);
    assert!(!out.status.success() && text(&out).contains("not found"), "{}", text(&out));
    assert!(site.state_files().is_empty(), "state left: {:?}", site.state_files());
}

#[test]
fn collections_switch_and_list_like_any_kcm() {
    let site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    ok(&site.kinit("bob", &[]));
    // kinit of a second principal made a second cache and switched to it.
    let all = ok(&site.tool(&["klist", "-l"]));
    assert!(all.contains("alice@EXAMPLE.ORG") && all.contains("bob@EXAMPLE.ORG"), "{all}");
    assert!(ok(&site.tool(&["klist"])).contains("Default principal: bob@EXAMPLE.ORG"));
    let every = ok(&site.tool(&["klist", "-A"]));
    assert_eq!(every.matches("krbtgt/EXAMPLE.ORG@EXAMPLE.ORG").count(), 2, "{every}");

    ok(&site.tool(&["kswitch", "-p", "alice"]));
    assert!(ok(&site.tool(&["klist"])).contains("Default principal: alice@EXAMPLE.ORG"));
    ok(&site.tool(&["kdestroy"]));
    // alice's cache is gone, bob's is still there and now the default.
    let all = ok(&site.tool(&["klist", "-l"]));
    assert!(!all.contains("alice@") && all.contains("bob@EXAMPLE.ORG"), "{all}");
    ok(&site.tool(&["kdestroy", "-A"]));
    let out = site.tool(&["klist", "-A"]);
    assert!(!text(&out).contains("EXAMPLE.ORG"), "{}", text(&out));
    // A named cache is a cache of the same collection.
    ok(&site.kinit("alice", &["-c", "KCM:0:named"]));
    let out = ok(&site.tool_env(&["klist"], &[("KRB5CCNAME", "KCM:0:named")]));
    assert!(out.contains("alice@EXAMPLE.ORG"), "{out}");
}

#[test]
fn a_restart_keeps_the_tickets() {
    let mut site = Site::start(&[]);
    ok(&site.kinit("alice", &[]));
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    site.stop_daemon();
    assert_eq!(site.state_files(), vec!["0.kcm".to_string()]);
    site.start_daemon(&[]);
    let listed = ok(&site.tool(&["klist"]));
    assert!(listed.contains("Default principal: alice@EXAMPLE.ORG"), "{listed}");
    assert!(listed.contains("host/svc.example.org@EXAMPLE.ORG"), "{listed}");
    let tgs_before = site.kdc.log().matches("TGS_REQ").count();
    ok(&site.tool(&["kvno", "host/svc.example.org"]));
    assert_eq!(site.kdc.log().matches("TGS_REQ").count(), tgs_before, "the cached ticket was not used");
}
