//! Turns a validated [`Document`] into a [`CompiledPolicy`], with precedence
//! resolved ahead of time so that deciding is a lookup, not a search.

use std::collections::HashMap;

use serde::Serialize;

use crate::document::{
    Action, Algorithm, ArgumentSchema, DefaultAction, Document, Kind, Limit, Scope, Section,
};
use crate::glob::Glob;
use crate::glob_set::GlobSet;
use crate::window::Window;

/// A validated policy, ready to decide calls. Immutable; share it in an `Arc`.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) tools: CompiledSection,
    pub(crate) resources: CompiledSection,
    pub(crate) prompts: CompiledSection,
    pub(crate) counters: Vec<CounterSpec>,
    /// `extensions`, sorted: few, and looked up only for methods MCP does
    /// not define.
    pub(crate) extensions: Vec<String>,
}

/// One [`Kind`]'s part of the policy, with precedence resolved.
#[derive(Debug)]
pub(crate) struct CompiledSection {
    pub(crate) default: DefaultAction,
    pub(crate) default_pointer: Box<str>,
    /// Exact names in `hide`, with the pointer of their entry.
    pub(crate) hide_exact: HashMap<String, String>,
    /// Globs in `hide`, with the pointer of their entry.
    pub(crate) hide_globs: GlobSet<String>,
    /// Exact keys of the section → index into `rules`.
    pub(crate) exact: HashMap<String, usize>,
    /// Glob keys of the section → index into `rules`.
    pub(crate) globs: GlobSet<usize>,
    pub(crate) rules: Vec<CompiledRule>,
    /// The `"*"` limits, for targets allowed by a `default` of `allow`.
    pub(crate) every_call: Vec<Limit>,
}

/// A rule with everything a decision needs.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub pointer: String,
    pub action: Action,
    /// Boxed: most rules have none, and a compiled schema is large.
    pub arguments: Option<Box<ArgumentSchema>>,
    /// The rule's own limits followed by the `"*"` limits.
    pub limits: Vec<Limit>,
    /// Audit events of calls under this rule keep argument values.
    pub audit_arguments: bool,
}

/// A counter the policy uses, as the counter store must know it. Limits
/// naming the same counter agree on all of these (validation checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterSpec {
    pub name: String,
    pub window: Window,
    pub scope: Scope,
    pub algorithm: Algorithm,
}

pub(crate) fn compile(doc: Document) -> CompiledPolicy {
    let mut counters: Vec<CounterSpec> = Vec::new();
    for (_, section) in doc.sections() {
        let all_limits = section
            .every_call
            .iter()
            .chain(section.rules.iter().flat_map(|rule| rule.limits.iter()));
        for limit in all_limits {
            if !counters.iter().any(|c| c.name == limit.counter) {
                counters.push(CounterSpec {
                    name: limit.counter.clone(),
                    window: limit.window,
                    scope: limit.scope,
                    algorithm: limit.algorithm,
                });
            }
        }
    }
    counters.shrink_to_fit();
    CompiledPolicy {
        tools: compile_section(doc.tools),
        resources: compile_section(doc.resources),
        prompts: compile_section(doc.prompts),
        counters,
        extensions: {
            let mut extensions = doc.extensions;
            extensions.sort_unstable();
            extensions
        },
    }
}

fn compile_section(section: Section) -> CompiledSection {
    let mut hide_exact = HashMap::new();
    let mut hide_globs = Vec::new();
    for (pattern, pointer) in section.hide {
        if Glob::is_glob(&pattern) {
            hide_globs.push((Glob::new(&pattern), pointer));
        } else {
            // The first entry naming a target is the one reported.
            hide_exact.entry(pattern).or_insert(pointer);
        }
    }

    let mut exact = HashMap::new();
    let mut globs = Vec::new();
    let mut rules = Vec::with_capacity(section.rules.len());
    for (i, rule) in section.rules.into_iter().enumerate() {
        if Glob::is_glob(&rule.key) {
            globs.push((Glob::new(&rule.key), i));
        } else {
            exact.insert(rule.key, i);
        }
        let limits = rule
            .limits
            .into_iter()
            .chain(section.every_call.iter().cloned())
            .collect();
        rules.push(CompiledRule {
            pointer: rule.pointer,
            action: rule.action,
            arguments: rule.arguments.map(Box::new),
            limits,
            audit_arguments: rule.audit_arguments,
        });
    }

    // Built once, kept for as long as the policy: no spare capacity.
    hide_exact.shrink_to_fit();
    exact.shrink_to_fit();
    let mut every_call = section.every_call;
    every_call.shrink_to_fit();
    CompiledSection {
        default: section.default,
        default_pointer: section.default_pointer.into_boxed_str(),
        hide_exact,
        hide_globs: GlobSet::new(hide_globs),
        exact,
        globs: GlobSet::new(globs),
        rules,
        every_call,
    }
}

impl CompiledSection {
    /// Nothing visible, nothing callable.
    fn closed() -> Self {
        Self {
            default: DefaultAction::Deny,
            default_pointer: "/default".into(),
            hide_exact: HashMap::new(),
            hide_globs: GlobSet::new(std::iter::empty()),
            exact: HashMap::new(),
            globs: GlobSet::new(std::iter::empty()),
            rules: Vec::new(),
            every_call: Vec::new(),
        }
    }

    /// Hide beats every rule; then an exact key; then the best glob; then default.
    pub(crate) fn resolve(&self, name: &str) -> Match<'_> {
        if let Some(pointer) = self.hide_exact.get(name) {
            return Match::Hidden(pointer);
        }
        if let Some(pointer) = self.hide_globs.best(name) {
            return Match::Hidden(pointer);
        }
        let index = self
            .exact
            .get(name)
            .or_else(|| self.globs.best(name))
            .copied();
        match index.and_then(|i| self.rules.get(i)) {
            Some(rule) => Match::Rule(rule),
            None => Match::Default,
        }
    }
}

/// Which part of the policy governs a target.
pub(crate) enum Match<'a> {
    /// Hidden by the `hide` entry at this pointer.
    Hidden(&'a str),
    Rule(&'a CompiledRule),
    /// No key matches: `default` applies.
    Default,
}

impl CompiledPolicy {
    /// The policy of a server that has none: `"default": "deny"` and no rules,
    /// so nothing is visible or callable.
    pub fn closed() -> Self {
        Self {
            tools: CompiledSection::closed(),
            resources: CompiledSection::closed(),
            prompts: CompiledSection::closed(),
            counters: Vec::new(),
            extensions: Vec::new(),
        }
    }

    /// Whether `method` is one of the document's `extensions`: a method
    /// outside MCP that the gateway forwards as sent. Exact, case-sensitive.
    pub fn is_extension(&self, method: &str) -> bool {
        self.extensions
            .binary_search_by(|listed| listed.as_str().cmp(method))
            .is_ok()
    }

    pub(crate) fn section(&self, kind: Kind) -> &CompiledSection {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Resource => &self.resources,
            Kind::Prompt => &self.prompts,
        }
    }

    fn sections(&self) -> [&CompiledSection; 3] {
        [&self.tools, &self.resources, &self.prompts]
    }

    /// The pointer of the part of the policy that governs the target of
    /// `kind` named `name`: its `hide` entry, its rule, or its `default`.
    pub fn governing_pointer_of(&self, kind: Kind, name: &str) -> &str {
        let section = self.section(kind);
        match section.resolve(name) {
            Match::Hidden(pointer) => pointer,
            Match::Rule(rule) => &rule.pointer,
            Match::Default => &section.default_pointer,
        }
    }

    /// Whether audit events of calls to the target of `kind` named `name`
    /// keep the argument values: only when its rule says
    /// `"audit_arguments": true`.
    pub fn audit_arguments_of(&self, kind: Kind, name: &str) -> bool {
        matches!(self.section(kind).resolve(name), Match::Rule(rule) if rule.audit_arguments)
    }

    /// Whether a call of the target of `kind` named `name` is decided or
    /// recorded by its argument values, so that those values must be exactly
    /// what the upstream reads: its rule has an `arguments` schema, requires
    /// a person's approval (who reads them), keeps them in the audit trail,
    /// or has a limit (its own or `"*"`'s) whose `cost` points into them.
    /// False for hidden targets and targets no rule allows: they are refused
    /// whatever their arguments.
    pub fn reads_arguments_of(&self, kind: Kind, name: &str) -> bool {
        let costs = |limits: &[Limit]| limits.iter().any(|limit| limit.cost.is_some());
        let section = self.section(kind);
        match section.resolve(name) {
            Match::Hidden(_) => false,
            Match::Rule(rule) => match rule.action {
                Action::Deny { .. } => false,
                Action::RequireApproval { .. } => true,
                Action::Allow => {
                    rule.arguments.is_some() || rule.audit_arguments || costs(&rule.limits)
                }
            },
            Match::Default => section.default == DefaultAction::Allow && costs(&section.every_call),
        }
    }

    /// What happens to tools no key matches.
    pub fn default_action(&self) -> DefaultAction {
        self.tools.default
    }

    /// Every counter the policy uses, each once, in document order.
    pub fn counters(&self) -> &[CounterSpec] {
        &self.counters
    }

    /// The number of rules of every section (exact keys and globs, not `"*"`).
    pub fn rule_count(&self) -> usize {
        self.sections().iter().map(|s| s.rules.len()).sum()
    }

    /// The number of `hide` entries of tools.
    pub fn hide_count(&self) -> usize {
        self.tools.hide_exact.len() + self.tools.hide_globs.len()
    }
}
