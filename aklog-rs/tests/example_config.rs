//! The example [aklog] section that goes into conf/pam_pag.toml must load
//! with the real loader and mean what its comments say.

use std::path::Path;

use pag::config::Config;
use pag::token::KeyTypeChoice;

#[test]
fn example_aklog_section_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/pam_pag.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.aklog.cells.is_empty());
    assert_eq!(config.aklog.realm, None);
    assert_eq!(config.aklog.key_type, KeyTypeChoice::Auto);
}
