//! Measuring the classifier against a labelled corpus of real tool
//! definitions (`corpus/tools.jsonl`, one `{"server", "source", "label",
//! "note"?, "tool"}` per line). Pure: the caller reads the file.
//! `cargo run -p toolgate-catalog --example accuracy` prints the report;
//! `tests/accuracy.rs` holds the classifier to its targets.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::{classify, Category, Risk, ToolDefinition, Trust, Verdict};

/// One labelled tool of the corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub server: String,
    pub source: String,
    /// What the tool really does, by a person's reading.
    pub label: Category,
    /// Why a label was hard to give, if it was.
    #[serde(default)]
    pub note: Option<String>,
    pub tool: Value,
}

/// A line of the corpus that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corpus line {line}: {message}")]
pub struct CorpusError {
    pub line: usize,
    pub message: String,
}

/// A tool the classifier got wrong.
#[derive(Debug, Clone)]
pub struct Miss {
    pub sample: Sample,
    pub verdict: Verdict,
}

/// How the classifier did on a corpus.
#[derive(Debug, Clone)]
pub struct Report {
    pub tools: usize,
    pub servers: usize,
    pub correct: usize,
    /// `confusion[label][predicted]`, indexed like [`Category::ALL`].
    pub confusion: [[usize; 5]; 5],
    /// Every tool whose category was wrong.
    pub misses: Vec<Miss>,
    /// Destructive or financial tools classified `read` or given `low` risk:
    /// the one mistake the targets allow none of.
    pub unsafe_misses: Vec<Miss>,
}

/// Reads a JSONL corpus (blank lines skipped).
pub fn read_corpus(jsonl: &str) -> Result<Vec<Sample>, CorpusError> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| CorpusError {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Classifies every sample as an untrusted server's tool (the default for
/// a server an account adds) and compares with its label.
pub fn evaluate(samples: &[Sample]) -> Result<Report, CorpusError> {
    let mut report = Report {
        tools: samples.len(),
        servers: 0,
        correct: 0,
        confusion: [[0; 5]; 5],
        misses: Vec::new(),
        unsafe_misses: Vec::new(),
    };
    let mut servers: Vec<&str> = samples.iter().map(|s| s.server.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    report.servers = servers.len();
    for (i, sample) in samples.iter().enumerate() {
        let tool = ToolDefinition::from_wire(&sample.tool).map_err(|e| CorpusError {
            line: i + 1,
            message: e.to_string(),
        })?;
        let verdict = classify(&tool, Trust::Untrusted);
        report.confusion[index(sample.label)][index(verdict.category)] += 1;
        let miss = || Miss {
            sample: sample.clone(),
            verdict: verdict.clone(),
        };
        if matches!(sample.label, Category::Destructive | Category::Financial)
            && (verdict.category == Category::Read || verdict.risk == Risk::Low)
        {
            report.unsafe_misses.push(miss());
        }
        if verdict.category == sample.label {
            report.correct += 1;
        } else {
            report.misses.push(miss());
        }
    }
    Ok(report)
}

impl Report {
    /// Share of tools whose category is right, 0 to 1.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.tools)
    }

    /// Of the tools classified `category`, the share labelled so.
    pub fn precision(&self, category: Category) -> f64 {
        let c = index(category);
        ratio(
            self.confusion[c][c],
            (0..5).map(|l| self.confusion[l][c]).sum(),
        )
    }

    /// Of the tools labelled `category`, the share classified so.
    pub fn recall(&self, category: Category) -> f64 {
        let c = index(category);
        ratio(self.confusion[c][c], self.confusion[c].iter().sum())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "corpus: {} tools from {} servers",
            self.tools, self.servers
        )?;
        writeln!(
            f,
            "accuracy: {}/{} = {:.1}%",
            self.correct,
            self.tools,
            100.0 * self.accuracy()
        )?;
        writeln!(
            f,
            "destructive or financial tools classified read or low: {}",
            self.unsafe_misses.len()
        )?;
        writeln!(
            f,
            "\n{:<12} {:>9} {:>7} {:>7}",
            "category", "precision", "recall", "tools"
        )?;
        for category in Category::ALL {
            let labelled: usize = self.confusion[index(category)].iter().sum();
            writeln!(
                f,
                "{:<12} {:>8.1}% {:>6.1}% {:>7}",
                category.as_str(),
                100.0 * self.precision(category),
                100.0 * self.recall(category),
                labelled
            )?;
        }
        write!(
            f,
            "\nconfusion (rows: label, columns: classified)\n{:<12}",
            ""
        )?;
        for category in Category::ALL {
            write!(f, " {:>11}", category.as_str())?;
        }
        writeln!(f)?;
        for label in Category::ALL {
            write!(f, "{:<12}", label.as_str())?;
            for count in self.confusion[index(label)] {
                write!(f, " {count:>11}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "\nmisclassified ({}):", self.misses.len())?;
        for miss in &self.misses {
            let name = miss
                .sample
                .tool
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            writeln!(
                f,
                "- {}/{}: labelled {}, classified {} ({} risk)",
                miss.sample.server,
                name,
                miss.sample.label.as_str(),
                miss.verdict.category.as_str(),
                miss.verdict.risk.as_str()
            )?;
            if let Some(note) = &miss.sample.note {
                writeln!(f, "    note: {note}")?;
            }
            for reason in &miss.verdict.reasons {
                writeln!(f, "    [{}] {}", reason.id, reason.text)?;
            }
        }
        Ok(())
    }
}

fn index(category: Category) -> usize {
    Category::ALL
        .iter()
        .position(|c| *c == category)
        .unwrap_or_default()
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
