//! Prints the classifier's accuracy on the labelled corpus of real MCP
//! tools: `cargo run -p toolgate-catalog --example accuracy [CORPUS.jsonl]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/tools.jsonl").to_owned());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = toolgate_catalog::accuracy::read_corpus(&text)
        .and_then(|samples| toolgate_catalog::accuracy::evaluate(&samples));
    match report {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
