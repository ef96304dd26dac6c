//! The classifier's targets on the labelled corpus of real MCP tools
//! (`corpus/tools.jsonl`): at least 90 % of categories right, and no
//! destructive or financial tool ever classified `read` or given `low` risk.
//! `cargo run -p toolgate-catalog --example accuracy` prints the full report.

use toolgate_catalog::accuracy::{evaluate, read_corpus};

const CORPUS: &str = include_str!("../corpus/tools.jsonl");

#[test]
fn the_classifier_meets_its_targets_on_the_corpus() {
    let samples = read_corpus(CORPUS).expect("the corpus reads");
    let report = evaluate(&samples).expect("every corpus tool is a valid definition");
    assert!(report.tools >= 150, "{} tools", report.tools);
    assert!(report.servers >= 10, "{} servers", report.servers);
    assert!(
        report.accuracy() >= 0.90,
        "accuracy fell below 90 %:\n{report}"
    );
    assert!(
        report.unsafe_misses.is_empty(),
        "destructive or financial tools classified read or low:\n{report}"
    );
}

#[test]
fn every_corpus_tool_names_its_server_source_and_a_unique_name() {
    let samples = read_corpus(CORPUS).expect("the corpus reads");
    let mut seen = std::collections::BTreeSet::new();
    for sample in &samples {
        assert!(!sample.server.is_empty() && !sample.source.is_empty());
        let name = sample.tool["name"].as_str().expect("a name");
        assert!(
            seen.insert((sample.server.clone(), name.to_owned())),
            "{}/{name} appears twice",
            sample.server
        );
    }
}

#[test]
fn a_malformed_line_is_reported_with_its_number() {
    let error = read_corpus("\n{\"server\": 1}\n").expect_err("malformed");
    assert_eq!(error.line, 2);
}
