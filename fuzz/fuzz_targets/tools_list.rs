//! An upstream's answer through the `tools/list` rewrite.
//!
//! Input: `ANSWER \0 HIDDEN \0 PRIVATE`: tools whose name contains the
//! non-empty text HIDDEN are removed; a non-empty PRIVATE section asks for
//! `cacheScope: "private"`. The rewrite must never panic, must return JSON
//! that means exactly the answer minus the removed tools (a hidden tool must
//! never reach the agent), and must leave an answer it does not change byte
//! for byte as it came.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolgate_fuzz::{sections, text};
use toolgate_mcp::error_codes;
use toolgate_mcp::response::error_response;
use toolgate_mcp::tools_list::{filter_tools_list_with, FilterOptions};
use toolgate_mcp::Id;

fuzz_target!(|data: &[u8]| {
    let [answer, hidden, private] = sections::<3>(data);
    let answer = answer.unwrap_or_default();
    let hidden = text(hidden).unwrap_or_default();
    let keep = |name: &str| hidden.is_empty() || !name.contains(hidden);
    let options = FilterOptions {
        private_cache_scope: private.is_some_and(|p| !p.is_empty()),
    };

    let filtered = match filter_tools_list_with(answer, keep, options) {
        Ok(filtered) => filtered,
        Err(err) => {
            // What the gateway sends the agent instead.
            let message = format!("upstream sent an invalid response: {err}");
            let bytes = error_response(
                Some(&Id::number(1)),
                error_codes::UPSTREAM_INVALID_RESPONSE,
                &message,
            );
            let value: Value = serde_json::from_slice(&bytes).expect("an error is JSON");
            assert_eq!(value["error"]["message"], message.as_str());
            return;
        }
    };
    let Ok(before) = serde_json::from_slice::<Value>(answer) else {
        // Valid JSON serde_json cannot hold as a Value (`1e999`): the output
        // must still be well-formed.
        serde_json::from_slice::<serde::de::IgnoredAny>(&filtered.body)
            .expect("the rewrite is JSON");
        return;
    };
    let after: Value = serde_json::from_slice(&filtered.body).expect("the rewrite is JSON");

    let mut expected = before.clone();
    let mut rescoped = false;
    let mut total = 0;
    if let Some(result) = expected.get_mut("result").and_then(Value::as_object_mut) {
        if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
            total = tools.len();
            tools.retain(|tool| tool.get("name").and_then(Value::as_str).is_some_and(keep));
            if options.private_cache_scope {
                if let Some(scope) = result.get_mut("cacheScope") {
                    rescoped = scope != "private";
                    *scope = Value::from("private");
                }
            }
        }
    }
    assert_eq!(after, expected, "{:?}", String::from_utf8_lossy(answer));
    assert_eq!(filtered.kept + filtered.removed, total);
    if filtered.removed == 0 && !rescoped {
        assert_eq!(
            &filtered.body[..],
            answer,
            "an unchanged answer is relayed as sent"
        );
    }
});
