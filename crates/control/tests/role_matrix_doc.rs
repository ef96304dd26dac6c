//! The README's role matrix is the permission table's, generated. Regenerate
//! with `TOOLGATE_UPDATE_DOCS=1 cargo test -p toolgate-control --test role_matrix_doc`.

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
const START: &str = "<!-- roles:start (generated from crates/control/src/permissions.rs) -->\n";
const END: &str = "<!-- roles:end -->";

#[test]
fn the_readme_shows_the_permission_table() {
    let doc = std::fs::read_to_string(DOC).expect("README.md exists");
    let (before, rest) = doc
        .split_once(START)
        .expect("the README has the start marker");
    let (current, after) = rest.split_once(END).expect("the README has the end marker");
    let generated = toolgate_control::permissions::matrix_markdown();
    if current != generated {
        if std::env::var_os("TOOLGATE_UPDATE_DOCS").is_some() {
            std::fs::write(DOC, format!("{before}{START}{generated}{END}{after}")).expect("write");
            return;
        }
        panic!(
            "the README's role matrix is stale. Run TOOLGATE_UPDATE_DOCS=1 cargo test \
             -p toolgate-control --test role_matrix_doc"
        );
    }
}
