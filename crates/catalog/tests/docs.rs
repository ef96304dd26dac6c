//! `docs/catalog.md` lists every reason the classifier can give, generated
//! from the rule table. Regenerate with
//! `TOOLGATE_UPDATE_DOCS=1 cargo test -p toolgate-catalog --test docs`.

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/catalog.md");
const START: &str =
    "<!-- reasons:start (generated from crates/catalog/src/classify/rules.rs) -->\n";
const END: &str = "<!-- reasons:end -->";

#[test]
fn the_docs_list_every_reason_of_the_rule_table() {
    let doc = std::fs::read_to_string(DOC).expect("docs/catalog.md exists");
    let (before, rest) = doc.split_once(START).expect("the doc has the start marker");
    let (current, after) = rest.split_once(END).expect("the doc has the end marker");
    let generated = toolgate_catalog::classify::reasons_markdown();
    if current != generated {
        if std::env::var_os("TOOLGATE_UPDATE_DOCS").is_some() {
            std::fs::write(DOC, format!("{before}{START}{generated}{END}{after}")).expect("write");
            return;
        }
        panic!(
            "docs/catalog.md is stale: its list of reasons differs from the rule table. \
             Run TOOLGATE_UPDATE_DOCS=1 cargo test -p toolgate-catalog --test docs"
        );
    }
}
