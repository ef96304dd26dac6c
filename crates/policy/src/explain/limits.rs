//! Schema errors and limits of the deciding rule, traced for one call.

use serde_json::Value;

use crate::document::{ArgumentSchema, Limit};
use crate::error::{describe, truncate};

use super::{LimitSource, LimitTrace, SchemaError};

/// Longest schema-error message in a trace, in characters.
const MAX_MESSAGE_LEN: usize = 300;

pub(super) fn schema_errors(schema: &ArgumentSchema, arguments: &Value) -> Vec<SchemaError> {
    let Err(errors) = schema.validator.validate(arguments).map_err(|first| {
        // `validate` stops at the first error; `iter_errors` finds them all.
        let mut all: Vec<_> = schema.validator.iter_errors(arguments).collect();
        if all.is_empty() {
            all.push(first);
        }
        all
    }) else {
        return Vec::new();
    };
    errors
        .into_iter()
        .map(|error| {
            let keyword = error.schema_path.to_string();
            let pointer = if schema.schema.pointer(&keyword).is_some() {
                format!("{}{keyword}", schema.pointer)
            } else {
                schema.pointer.clone()
            };
            SchemaError {
                path: error.instance_path.to_string(),
                pointer,
                message: truncate(&error.to_string(), MAX_MESSAGE_LEN),
            }
        })
        .collect()
}

pub(super) fn limit_traces(
    limits: &[Limit],
    arguments: &Value,
    every_call_pointer: &str,
    counted: bool,
) -> Vec<LimitTrace> {
    let every_call_prefix = format!("{every_call_pointer}/");
    let mut traces: Vec<LimitTrace> = limits
        .iter()
        .map(|limit| {
            let (cost, problem) = match &limit.cost {
                None => (Some(1), None),
                Some(path) => match arguments.pointer(path) {
                    None => (
                        None,
                        Some(format!("the argument {path} that sets the cost is missing")),
                    ),
                    Some(value) => match value.as_u64() {
                        None => (
                            None,
                            Some(format!(
                                "the argument {path} that sets the cost must be a non-negative \
                                 integer, not {}",
                                describe(value)
                            )),
                        ),
                        Some(cost) if cost > limit.max => (
                            Some(cost),
                            Some(format!(
                                "this call costs {cost} but the counter allows at most {} per \
                                 window",
                                limit.max
                            )),
                        ),
                        Some(cost) => (Some(cost), None),
                    },
                },
            };
            LimitTrace {
                counter: limit.counter.clone(),
                window: limit.window,
                max: limit.max,
                scope: limit.scope,
                algorithm: limit.algorithm,
                on_backend_error: limit.on_backend_error,
                pointer: limit.pointer.clone(),
                from: if limit.pointer.starts_with(&every_call_prefix) {
                    LimitSource::EveryCall
                } else {
                    LimitSource::Rule
                },
                cost,
                counted,
                problem,
            }
        })
        .collect();
    // A bad cost refuses the call: then nothing is counted.
    if traces.iter().any(|t| t.problem.is_some()) {
        for trace in &mut traces {
            trace.counted = false;
        }
    }
    traces
}
