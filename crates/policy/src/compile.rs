//! Turns a validated [`Document`] into a [`CompiledPolicy`], with precedence
//! resolved ahead of time so that deciding is a lookup, not a search.

use std::collections::HashMap;

use serde::Serialize;

use crate::document::{Action, Algorithm, ArgumentSchema, DefaultAction, Document, Limit, Scope};
use crate::glob::Glob;
use crate::glob_set::GlobSet;
use crate::window::Window;

/// A validated policy, ready to decide calls. Immutable; share it in an `Arc`.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) default: DefaultAction,
    /// Exact names in `hide`, with the pointer of their entry.
    pub(crate) hide_exact: HashMap<String, String>,
    /// Globs in `hide`, with the pointer of their entry.
    pub(crate) hide_globs: GlobSet<String>,
    /// Exact keys of `tools` → index into `rules`.
    pub(crate) exact: HashMap<String, usize>,
    /// Glob keys of `tools` → index into `rules`.
    pub(crate) globs: GlobSet<usize>,
    pub(crate) rules: Vec<CompiledRule>,
    /// The `"*"` limits, for tools allowed by `"default": "allow"`.
    pub(crate) every_call: Vec<Limit>,
    pub(crate) counters: Vec<CounterSpec>,
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
    let mut hide_exact = HashMap::new();
    let mut hide_globs = Vec::new();
    for (pattern, pointer) in doc.hide {
        if Glob::is_glob(&pattern) {
            hide_globs.push((Glob::new(&pattern), pointer));
        } else {
            // The first entry naming a tool is the one reported.
            hide_exact.entry(pattern).or_insert(pointer);
        }
    }

    let mut counters: Vec<CounterSpec> = Vec::new();
    let all_limits = doc
        .every_call
        .iter()
        .chain(doc.rules.iter().flat_map(|rule| rule.limits.iter()));
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

    let mut exact = HashMap::new();
    let mut globs = Vec::new();
    let mut rules = Vec::with_capacity(doc.rules.len());
    for (i, rule) in doc.rules.into_iter().enumerate() {
        if Glob::is_glob(&rule.key) {
            globs.push((Glob::new(&rule.key), i));
        } else {
            exact.insert(rule.key, i);
        }
        let limits = rule
            .limits
            .into_iter()
            .chain(doc.every_call.iter().cloned())
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
    counters.shrink_to_fit();
    let mut every_call = doc.every_call;
    every_call.shrink_to_fit();
    CompiledPolicy {
        default: doc.default,
        hide_exact,
        hide_globs: GlobSet::new(hide_globs),
        exact,
        globs: GlobSet::new(globs),
        rules,
        every_call,
        counters,
    }
}

/// Which part of the policy governs a tool.
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
            default: DefaultAction::Deny,
            hide_exact: HashMap::new(),
            hide_globs: GlobSet::new(std::iter::empty()),
            exact: HashMap::new(),
            globs: GlobSet::new(std::iter::empty()),
            rules: Vec::new(),
            every_call: Vec::new(),
            counters: Vec::new(),
        }
    }

    /// Hide beats every rule; then an exact key; then the best glob; then default.
    pub(crate) fn resolve(&self, tool: &str) -> Match<'_> {
        if let Some(pointer) = self.hide_exact.get(tool) {
            return Match::Hidden(pointer);
        }
        if let Some(pointer) = self.hide_globs.best(tool) {
            return Match::Hidden(pointer);
        }
        let index = self
            .exact
            .get(tool)
            .or_else(|| self.globs.best(tool))
            .copied();
        match index.and_then(|i| self.rules.get(i)) {
            Some(rule) => Match::Rule(rule),
            None => Match::Default,
        }
    }

    /// The pointer of the part of the policy that governs `tool`: its `hide`
    /// entry, its rule, or `/default`.
    pub fn governing_pointer(&self, tool: &str) -> &str {
        match self.resolve(tool) {
            Match::Hidden(pointer) => pointer,
            Match::Rule(rule) => &rule.pointer,
            Match::Default => "/default",
        }
    }

    /// Whether audit events of calls to `tool` keep the argument values: only
    /// when its rule says `"audit_arguments": true`.
    pub fn audit_arguments(&self, tool: &str) -> bool {
        matches!(self.resolve(tool), Match::Rule(rule) if rule.audit_arguments)
    }

    /// Whether a call of `tool` is decided or recorded by its argument
    /// values, so that those values must be exactly what the upstream reads:
    /// its rule has an `arguments` schema, requires a person's approval (who
    /// reads them), keeps them in the audit trail, or has a limit (its own or
    /// `"*"`'s) whose `cost` points into them. False for hidden tools and
    /// tools no rule allows: they are refused whatever their arguments.
    pub fn reads_arguments(&self, tool: &str) -> bool {
        let costs = |limits: &[Limit]| limits.iter().any(|limit| limit.cost.is_some());
        match self.resolve(tool) {
            Match::Hidden(_) => false,
            Match::Rule(rule) => match rule.action {
                Action::Deny { .. } => false,
                Action::RequireApproval { .. } => true,
                Action::Allow => {
                    rule.arguments.is_some() || rule.audit_arguments || costs(&rule.limits)
                }
            },
            Match::Default => self.default == DefaultAction::Allow && costs(&self.every_call),
        }
    }

    /// What happens to tools no key matches.
    pub fn default_action(&self) -> DefaultAction {
        self.default
    }

    /// Every counter the policy uses, each once, in document order.
    pub fn counters(&self) -> &[CounterSpec] {
        &self.counters
    }

    /// The number of tool rules (exact names and globs, not `"*"`).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The number of `hide` entries.
    pub fn hide_count(&self) -> usize {
        self.hide_exact.len() + self.hide_globs.len()
    }

    /// The longest `approval_timeout` of any `require_approval` rule, if any.
    pub fn max_approval_timeout_secs(&self) -> Option<u64> {
        self.rules
            .iter()
            .filter_map(|rule| match rule.action {
                Action::RequireApproval { timeout_secs } => Some(timeout_secs),
                _ => None,
            })
            .max()
    }
}
