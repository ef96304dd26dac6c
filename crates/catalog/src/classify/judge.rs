//! Walks the rule table over one definition and combines what fired into a
//! verdict.

use serde_json::Value;

use super::rules::{Effect, On, Rule, MANY_PARAMETERS, RULES};
use super::tokens::{base_forms, name_words, squashed, text_words};
use super::{Category, Evidence, Flag, Reason, Risk, Trust, Verdict};
use crate::ToolDefinition;

/// Classifies one tool. Pure and deterministic: reasons follow the order of
/// the name's words, the table's rows and the schema's sorted property
/// names, never a map's iteration order.
pub fn classify(tool: &ToolDefinition, trust: Trust) -> Verdict {
    let mut judge = Judge::default();
    judge.name(&tool.name);
    let text = description_text(tool);
    if judge.category.is_none() {
        judge.description_verb(&text);
    }
    judge.money();
    judge.phrases(&text);
    judge.schema(tool.input_schema.as_ref());
    judge.annotations(tool.annotations.as_ref(), trust);
    judge.finish(&tool.name)
}

#[derive(Default)]
struct Judge {
    /// From verbs and phrases; `None` until something recognises the tool.
    category: Option<Category>,
    /// Money nouns of the name, applied once the verbs are known.
    money_nouns: Vec<Reason>,
    flags: Vec<Flag>,
    reasons: Vec<Reason>,
    /// At least this risk, whatever the category says.
    risk_floor: Option<Risk>,
    /// Raise the final risk by one level (an annotation contradicts).
    contradicted: bool,
    /// A trusted server's `readOnlyHint` may settle an unrecognised tool.
    trusted_read_only: bool,
}

impl Judge {
    /// Verbs anywhere in the name decide the category: the most severe wins.
    /// After a leading read verb (`get_commit`, `list_workflow_runs`), later
    /// words are objects, not actions, unless they delete.
    fn name(&mut self, name: &str) {
        let mut first: Option<Category> = None;
        for word in name_words(name) {
            let Some((rule, category)) = verb(&word) else {
                if let Some(rule) = rows(Effect::MoneyNoun).find(|r| has(r, &word)) {
                    self.money_nouns
                        .push(reason(rule, Evidence::NameToken(word.clone()), &word));
                }
                continue;
            };
            // A word that is also a money noun ("charge", "invoice") counts as one too.
            if let Some(noun) = rows(Effect::MoneyNoun).find(|r| has(r, &word)) {
                self.money_nouns
                    .push(reason(noun, Evidence::NameToken(word.clone()), &word));
            }
            if first == Some(Category::Read) && category != Category::Destructive {
                continue;
            }
            first.get_or_insert(category);
            self.reasons
                .push(reason(rule, Evidence::NameToken(word.clone()), &word));
            self.raise(category);
        }
    }

    /// A name without a verb (`brave_web_search` has one, `echo` is one,
    /// `sequentialthinking` has none) is read by the first verb of the
    /// description's first sentence.
    fn description_verb(&mut self, text: &str) {
        let sentence = text
            .split(['.', '\n', ':', ';'])
            .find(|s| !s.trim().is_empty())
            .unwrap_or("");
        for word in text_words(sentence) {
            let found = base_forms(&word)
                .into_iter()
                .flatten()
                .find_map(|form| verb(form).map(|(rule, category)| (rule, category, form)));
            if let Some((rule, category, form)) = found {
                self.reasons.push(reason(
                    rule,
                    Evidence::DescriptionPhrase(word.clone()),
                    form,
                ));
                self.raise(category);
                return;
            }
        }
    }

    /// A money noun makes a tool that changes, runs or cancels something
    /// financial (`create_invoice`, `cancel_subscription`); a tool that only
    /// reads money (`get_invoice`) stays a read.
    fn money(&mut self) {
        if matches!(
            self.category,
            Some(Category::Write | Category::Execute | Category::Destructive)
        ) {
            if let Some(first) = self.money_nouns.first().cloned() {
                self.reasons.push(first);
                self.category = Some(Category::Financial);
            }
        }
    }

    fn phrases(&mut self, text: &str) {
        let padded = format!(" {} ", text_words(text).join(" "));
        for rule in RULES.iter().filter(|r| r.on == On::Description) {
            let Some(phrase) = rule
                .terms
                .iter()
                .find(|p| padded.contains(&format!(" {p} ")))
            else {
                continue;
            };
            match rule.effect {
                // Describing money in a read ("the charge the customer
                // made") is no reason to think the read moves it.
                Effect::AtLeast(Category::Financial) if self.category == Some(Category::Read) => {
                    continue
                }
                Effect::AtLeast(category) => self.raise(category),
                Effect::Flag(flag) => self.flags.push(flag),
                _ => {}
            }
            self.reasons.push(reason(
                rule,
                Evidence::DescriptionPhrase((*phrase).to_owned()),
                phrase,
            ));
        }
    }

    fn schema(&mut self, schema: Option<&Value>) {
        let Some(properties) = schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        else {
            return;
        };
        let mut names: Vec<&String> = properties.keys().collect();
        names.sort();
        for name in &names {
            let key = squashed(name);
            for rule in RULES
                .iter()
                .filter(|r| r.on == On::Property && has(r, &key))
            {
                match rule.effect {
                    Effect::Flag(flag) => self.flags.push(flag),
                    Effect::Executes => {
                        self.flags.push(Flag::ExecutesCode);
                        if matches!(self.category, None | Some(Category::Write)) {
                            self.category = Some(Category::Execute);
                        }
                    }
                    _ => {}
                }
                self.reasons.push(reason(
                    rule,
                    Evidence::SchemaProperty((*name).clone()),
                    name,
                ));
            }
        }
        if names.len() > MANY_PARAMETERS {
            for rule in RULES.iter().filter(|r| r.on == On::PropertyCount) {
                if let Effect::Flag(flag) = rule.effect {
                    self.flags.push(flag);
                }
                let count = names.len().to_string();
                self.reasons.push(reason(
                    rule,
                    Evidence::SchemaProperty(count.clone()),
                    &count,
                ));
            }
        }
    }

    fn annotations(&mut self, annotations: Option<&Value>, trust: Trust) {
        let Some(annotations) = annotations else {
            return;
        };
        let hint = |key: &str| annotations.get(key).and_then(Value::as_bool);
        let read_only = hint("readOnlyHint");
        for rule in RULES.iter().filter(|r| r.on == On::Annotation) {
            let Some(key) = rule.terms.first() else {
                continue;
            };
            let Some(value) = hint(key) else {
                continue;
            };
            let shown = format!("{key}: {value}");
            let mut text = rule.text.replace("{}", &shown);
            match (rule.effect, value) {
                (Effect::ReadOnlyHint, true) => match self.category {
                    Some(Category::Read) => {}
                    Some(_) => {
                        self.contradicted = true;
                        self.flags.push(Flag::AnnotationContradicts);
                        text.push_str(
                            "; the name or description says otherwise, so risk is raised",
                        );
                    }
                    None if trust == Trust::Trusted => {
                        self.trusted_read_only = true;
                        text.push_str("; the server is trusted, so the tool is taken as a read");
                    }
                    None => text.push_str("; ignored: only a trusted server's hint can lower risk"),
                },
                (Effect::ReadOnlyHint, false) if self.category == Some(Category::Read) => {
                    self.contradicted = true;
                    self.flags.push(Flag::AnnotationContradicts);
                    text = "the server says the tool is not read-only (readOnlyHint: false), \
                            though the name or description reads: risk is raised"
                        .to_owned();
                }
                // Only meaningful when the tool is not read-only (MCP spec).
                (Effect::DestructiveHint, true) if read_only != Some(true) => {
                    if matches!(self.category, Some(Category::Read)) {
                        self.flags.push(Flag::AnnotationContradicts);
                        text.push_str("; the name or description reads, so risk is raised");
                    }
                    self.floor(Risk::High);
                }
                (Effect::DestructiveHint, false)
                    if self.category == Some(Category::Destructive) =>
                {
                    self.contradicted = true;
                    self.flags.push(Flag::AnnotationContradicts);
                    text = "the server says the tool is not destructive (destructiveHint: \
                            false), though the name or description deletes: risk is raised"
                        .to_owned();
                }
                (Effect::OpenWorldHint, true) => self.flags.push(Flag::OpenWorld),
                _ => continue,
            }
            self.reasons.push(Reason {
                id: rule.id,
                text,
                evidence: Evidence::Annotation(shown),
            });
        }
    }

    fn finish(mut self, name: &str) -> Verdict {
        let category = match self.category {
            Some(category) => category,
            None if self.trusted_read_only => Category::Read,
            None => {
                self.flags.push(Flag::Unrecognised);
                if let Some(rule) = rows(Effect::Unrecognised).next() {
                    let quoted = format!("\"{name}\"");
                    self.reasons
                        .push(reason(rule, Evidence::NameToken(name.to_owned()), &quoted));
                }
                Category::Write
            }
        };
        if category == Category::Execute {
            self.flags.push(Flag::ExecutesCode);
        }
        self.flags.sort();
        self.flags.dedup();
        let mut risk = category.base_risk();
        for flag in &self.flags {
            let floor = match flag {
                Flag::Credentials | Flag::ExecutesCode => Risk::High,
                Flag::OpenWorld | Flag::Unrecognised => Risk::Medium,
                Flag::ManyParameters | Flag::AnnotationContradicts => Risk::Low,
            };
            risk = risk.max(floor);
        }
        if let Some(floor) = self.risk_floor {
            risk = risk.max(floor);
        }
        if self.contradicted {
            risk = risk.raised();
        }
        Verdict {
            category,
            risk,
            flags: self.flags,
            reasons: self.reasons,
        }
    }

    fn raise(&mut self, category: Category) {
        self.category = Some(self.category.map_or(category, |c| c.max(category)));
    }

    fn floor(&mut self, risk: Risk) {
        self.risk_floor = Some(self.risk_floor.map_or(risk, |r| r.max(risk)));
    }
}

/// The verb rows' most severe match for one word.
fn verb(word: &str) -> Option<(&'static Rule, Category)> {
    RULES
        .iter()
        .filter(|r| r.on == On::Name && has(r, word))
        .filter_map(|r| match r.effect {
            Effect::Verb(category) => Some((r, category)),
            _ => None,
        })
        .max_by_key(|(_, category)| *category)
}

fn rows(effect: Effect) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.effect == effect)
}

fn has(rule: &Rule, word: &str) -> bool {
    rule.terms.contains(&word)
}

fn reason(rule: &'static Rule, evidence: Evidence, shown: &str) -> Reason {
    Reason {
        id: rule.id,
        text: rule.text.replace("{}", shown),
        evidence,
    }
}

/// The title and description, which the phrases are looked for in.
fn description_text(tool: &ToolDefinition) -> String {
    let mut text = String::new();
    if let Some(description) = &tool.description {
        text.push_str(description);
    }
    if let Some(title) = &tool.title {
        text.push('\n');
        text.push_str(title);
    }
    text
}
