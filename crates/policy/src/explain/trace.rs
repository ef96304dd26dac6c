//! The keys of a section, traced for one target: which match, in which
//! order, which decides, and why the others do not.

use std::cmp::Ordering;

use crate::compile::{CompiledSection, Match};
use crate::document::Kind;
use crate::glob::Glob;

use super::{RuleRole, RuleSource, RuleTrace};

pub(super) struct Trace {
    /// `tool "x"`, for messages.
    pub(super) target: String,
    name: String,
    pub(super) matched: Vec<RuleTrace>,
    pub(super) not_matched: Vec<RuleTrace>,
    /// Whether a `hide` entry already decides.
    hidden: bool,
}

impl Trace {
    pub(super) fn new(kind: Kind, name: &str) -> Self {
        Self {
            target: format!("{} {name:?}", kind.noun()),
            name: name.to_owned(),
            matched: Vec::new(),
            not_matched: Vec::new(),
            hidden: false,
        }
    }

    /// `hide` entries: an exact entry first, then globs by precedence; the
    /// first that matches hides the target whatever the rules say.
    pub(super) fn hides(&mut self, section: &CompiledSection, name: &str) {
        let mut exact: Vec<(&String, &String)> = section.hide_exact.iter().collect();
        exact.sort_by(|a, b| a.1.cmp(b.1));
        for (entry, pointer) in exact {
            if entry == name {
                self.matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: entry.clone(),
                    source: RuleSource::HideExact,
                    role: RuleRole::Decides,
                    why: format!(
                        "`hide` names {}: it is hidden, whatever the rules say",
                        self.target
                    ),
                });
                self.hidden = true;
            } else {
                self.not_matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: entry.clone(),
                    source: RuleSource::HideExact,
                    role: RuleRole::NoMatch,
                    why: format!("this `hide` entry names {entry:?}, not {:?}", self.name),
                });
            }
        }
        let mut globs: Vec<&(Glob, String)> = section.hide_globs.entries().collect();
        globs.sort_by(|a, b| a.0.precedence(&b.0));
        let mut unmatched = Vec::new();
        for (glob, pointer) in globs {
            if glob.matches(name) {
                let (role, why) = if self.hidden {
                    (
                        RuleRole::Outranked,
                        "matches too, but an earlier `hide` entry already hides it".to_owned(),
                    )
                } else {
                    self.hidden = true;
                    (
                        RuleRole::Decides,
                        format!(
                            "the `hide` glob {:?} matches {}: it is hidden, whatever the rules say",
                            glob.pattern(),
                            self.target
                        ),
                    )
                };
                self.matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: glob.pattern().to_owned(),
                    source: RuleSource::HideGlob,
                    role,
                    why,
                });
            } else {
                unmatched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: glob.pattern().to_owned(),
                    source: RuleSource::HideGlob,
                    role: RuleRole::NoMatch,
                    why: mismatch(glob, name),
                });
            }
        }
        unmatched.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        self.not_matched.extend(unmatched);
    }

    /// The section's keys: the exact key, then globs in precedence order.
    pub(super) fn keys(&mut self, section: &CompiledSection, name: &str, governing: &Match<'_>) {
        let decider = match governing {
            Match::Rule(rule) => Some(rule.pointer.as_str()),
            _ => None,
        };
        // (precedence class, glob, index): exact keys sort before every glob.
        let mut matching: Vec<(Option<&Glob>, usize)> = Vec::new();
        let mut unmatched: Vec<(usize, RuleTrace)> = Vec::new();
        for (key, &index) in &section.exact {
            if key == name {
                matching.push((None, index));
            } else {
                unmatched.push((
                    index,
                    RuleTrace {
                        pointer: pointer_of(section, index),
                        key: key.clone(),
                        source: RuleSource::Exact,
                        role: RuleRole::NoMatch,
                        why: format!("an exact key for {key:?}, not {:?}", self.name),
                    },
                ));
            }
        }
        for (glob, index) in section.globs.entries() {
            if glob.matches(name) {
                matching.push((Some(glob), *index));
            } else {
                unmatched.push((
                    *index,
                    RuleTrace {
                        pointer: pointer_of(section, *index),
                        key: glob.pattern().to_owned(),
                        source: RuleSource::Glob,
                        role: RuleRole::NoMatch,
                        why: mismatch(glob, name),
                    },
                ));
            }
        }
        matching.sort_by(|a, b| match (a.0, b.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.precedence(b),
        });
        let winner = matching.first().copied();
        for &(glob, index) in &matching {
            let pointer = pointer_of(section, index);
            let decides = !self.hidden && decider == Some(pointer.as_str());
            let (role, why) = if decides {
                let what = match glob {
                    None => format!("the exact key for {}", self.target),
                    Some(glob) if matching.len() == 1 => format!(
                        "the only key matching {} (glob {:?})",
                        self.target,
                        glob.pattern()
                    ),
                    Some(glob) => format!(
                        "the highest-precedence glob matching {} ({:?}: among globs the longest \
                         pattern wins, then the one with fewer `*`, then the first in byte order)",
                        self.target,
                        glob.pattern()
                    ),
                };
                (RuleRole::Decides, format!("{what} decides"))
            } else if self.hidden {
                (
                    RuleRole::Outranked,
                    format!(
                        "matches, but {} is hidden: `hide` beats every rule",
                        self.target
                    ),
                )
            } else {
                let why = match (winner, glob) {
                    (Some((None, _)), _) => {
                        "matches, but the exact key beats every glob".to_owned()
                    }
                    (Some((Some(best), _)), Some(glob)) => outranked_by(glob, best),
                    _ => "matches, but another key decides".to_owned(),
                };
                (RuleRole::Outranked, why)
            };
            self.matched.push(RuleTrace {
                pointer,
                key: glob.map_or_else(|| self.name.clone(), |g| g.pattern().to_owned()),
                source: if glob.is_some() {
                    RuleSource::Glob
                } else {
                    RuleSource::Exact
                },
                role,
                why,
            });
        }
        unmatched.sort_by_key(|(index, _)| *index);
        self.not_matched
            .extend(unmatched.into_iter().map(|(_, trace)| trace));
    }

    /// The `"*"` rule, when the section has one with limits.
    pub(super) fn every_call(
        &mut self,
        section: &CompiledSection,
        pointer: &str,
        counted: bool,
        by_default: bool,
    ) {
        if section.every_call.is_empty() {
            return;
        }
        let (role, why) = if counted && by_default {
            (
                RuleRole::AddsLimits,
                "`\"*\"` matches every call; `default` allows this one, so only these limits \
                 are counted"
                    .to_owned(),
            )
        } else if counted {
            (
                RuleRole::AddsLimits,
                "`\"*\"` matches every call; its limits are counted after the deciding rule's own"
                    .to_owned(),
            )
        } else {
            (
                RuleRole::NotApplied,
                "`\"*\"` matches every call, but its limits are not counted: this call is \
                 refused before limits"
                    .to_owned(),
            )
        };
        self.matched.push(RuleTrace {
            pointer: pointer.to_owned(),
            key: "*".to_owned(),
            source: RuleSource::EveryCall,
            role,
            why,
        });
    }
}

fn pointer_of(section: &CompiledSection, index: usize) -> String {
    section
        .rules
        .get(index)
        .map(|rule| rule.pointer.clone())
        .unwrap_or_default()
}

/// Why `glob`, which matches, loses to `best`.
fn outranked_by(glob: &Glob, best: &Glob) -> String {
    let len = |g: &Glob| g.pattern().chars().count();
    let stars = |g: &Glob| g.pattern().matches('*').count();
    let because = if len(best) > len(glob) {
        format!(
            "{:?} is longer ({} characters against {})",
            best.pattern(),
            len(best),
            len(glob)
        )
    } else if stars(best) < stars(glob) {
        format!(
            "{:?} is as long and has fewer `*` ({} against {})",
            best.pattern(),
            stars(best),
            stars(glob)
        )
    } else {
        format!(
            "{:?} is as long, has as many `*`, and comes first in byte order",
            best.pattern()
        )
    };
    format!("matches, but the glob {because}, so it wins")
}

/// Why `glob` does not match `name`.
fn mismatch(glob: &Glob, name: &str) -> String {
    let (prefix, suffix) = (glob.prefix(), glob.suffix());
    if !name.starts_with(prefix) {
        format!("{name:?} does not start with {prefix:?}")
    } else if !name.ends_with(suffix) {
        format!("{name:?} does not end with {suffix:?}")
    } else if name.len() < prefix.len() + suffix.len() {
        format!(
            "{name:?} is too short to hold both {prefix:?} and {suffix:?} of {:?}",
            glob.pattern()
        )
    } else {
        format!(
            "the literal text between the `*` of {:?} does not occur, in order, in {name:?}",
            glob.pattern()
        )
    }
}
