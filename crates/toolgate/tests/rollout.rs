//! Safe rollout end to end, against `toolgate serve` with the real Postgres
//! and Redis: a simulation of a candidate policy on a few hundred recorded
//! calls predicts exactly what the gateway decides once the candidate is
//! live and the same calls are made again; a shadow policy costs the hot
//! path no counter-store round trip and no Postgres query.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod fleet;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleet::{fleet_database_url, Fleet, FleetOptions};
use serde_json::{json, Value};
use toolgate_proxy::test_support::post_mcp;
use toolgate_store::ids::GrantId;

const REDIS: &str = "redis://127.0.0.1:6379";

/// Per tool, per decision: how many calls.
type Counts = BTreeMap<String, BTreeMap<String, u64>>;

fn live_policy() -> Value {
    json!({
        "version": "1",
        "default": "deny",
        "tools": {
            "search": {"limits": [{"counter": "search", "window": "day", "max": 1000, "scope": "grant"}]},
            "read": {},
            "wipe": {},
            "echo": {
                "audit_arguments": true,
                "arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 5}}}
            }
        }
    })
}

/// Denies one tool and tightens one limit.
fn candidate_policy() -> Value {
    let mut candidate = live_policy();
    candidate["tools"]["wipe"] = json!({"action": "deny", "reason": "no wiping"});
    candidate["tools"]["search"]["limits"][0]["max"] = json!(40);
    candidate
}

/// The calls, in order: mixed tools, arguments the schema takes and some it
/// refuses, and a tool no rule allows.
fn calls() -> Vec<(&'static str, Value)> {
    (0..300)
        .map(|i| match i % 6 {
            0 | 1 => ("search", json!({"q": i})),
            2 => ("read", json!({})),
            3 => ("wipe", json!({})),
            4 if i % 12 == 4 => ("echo", json!({"message": "hi"})),
            4 => ("echo", json!({"message": "far too long"})),
            _ => ("nosuch", json!({})),
        })
        .collect()
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/v1{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn api(fleet: &Fleet) -> Api {
    let pool = sqlx::PgPool::connect(&fleet_database_url_of(fleet))
        .await
        .unwrap();
    let (_, key) = toolgate_store::api_keys::create(
        &pool,
        fleet.account,
        "rollout",
        toolgate_store::memberships::Role::Admin,
        None,
    )
    .await
    .unwrap();
    pool.close().await;
    Api {
        client: reqwest::Client::new(),
        base: fleet.base_url(0).to_owned(),
        key,
    }
}

fn fleet_database_url_of(fleet: &Fleet) -> String {
    fleet_database_url(&fleet.name)
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    i: usize,
    tool: &str,
    arguments: &Value,
) {
    let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    let response = post_mcp(client, url, token, body.to_string()).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
}

/// The stored decisions of `grant`'s calls, once `want` are stored.
async fn decisions(fleet: &Fleet, grant: GrantId, want: usize) -> Counts {
    let pool = sqlx::PgPool::connect(&fleet_database_url_of(fleet))
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT tool, decision FROM audit_events WHERE grant_id = $1")
                .bind(grant.0)
                .fetch_all(&pool)
                .await
                .unwrap();
        if rows.len() >= want {
            assert_eq!(rows.len(), want, "one event per call");
            let mut counts = Counts::new();
            for (tool, decision) in rows {
                *counts.entry(tool).or_default().entry(decision).or_default() += 1;
            }
            pool.close().await;
            return counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} of {want} events stored",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn by_tool(report: &Value) -> Counts {
    serde_json::from_value(report["by_tool"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_predicts_the_decisions_the_candidate_makes_for_real() {
    let options = FleetOptions {
        command: "serve",
        ..FleetOptions::default()
    };
    let fleet = Fleet::start_with("rollout_simulate", REDIS, 1, live_policy(), options).await;
    let api = api(&fleet).await;
    let client = reqwest::Client::new();
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);

    // Recorded under the live policy, by the seeded grant.
    let calls = calls();
    for (i, (tool, arguments)) in calls.iter().enumerate() {
        call(&client, &fleet.urls[0], &fleet.token, i, tool, arguments).await;
    }
    let recorded = decisions(&fleet, fleet.grant, calls.len()).await;

    let (status, report) = api
        .send(
            reqwest::Method::POST,
            &format!("/servers/{}/policy/simulate", fleet.server),
            Some(json!({"document": candidate_policy(), "since": started})),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["events"], calls.len());
    assert_eq!(report["live"]["version"], 1);
    assert_eq!(report["bounded"]["truncated"], false);
    assert_eq!(report["unjudged"], json!([]), "echo's values were recorded");
    // Replaying the live policy gives back what the gateway decided.
    assert_eq!(by_tool(&report["live"]), recorded);
    // The changes are the denied tool and the tightened limit, nothing else.
    let changes = report["changes"].as_array().unwrap();
    let changed: BTreeMap<(String, String, String), u64> = changes
        .iter()
        .map(|c| {
            let key = (
                c["tool"].as_str().unwrap().to_owned(),
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
            );
            assert!(c["examples"].as_array().unwrap().len() <= 3);
            (key, c["count"].as_u64().unwrap())
        })
        .collect();
    let expected: BTreeMap<(String, String, String), u64> = [
        (("search", "allowed", "limited"), 100 - 40),
        (("wipe", "allowed", "unknown_tool"), 50),
    ]
    .into_iter()
    .map(|((t, f, to), n)| ((t.to_owned(), f.to_owned(), to.to_owned()), n))
    .collect();
    assert_eq!(changed, expected, "{report}");
    let search = changes.iter().find(|c| c["tool"] == "search").unwrap();
    assert_eq!(search["rule"], "/tools/search/limits/0");

    // The candidate goes live; a fresh grant (fresh counters) replays the calls.
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            &format!("/servers/{}/policy", fleet.server),
            Some(candidate_policy()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, grant) = api
        .send(
            reqwest::Method::POST,
            "/grants",
            Some(json!({"name": "replay"})),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let token = grant["token"].as_str().unwrap();
    let grant_id: GrantId = grant["id"].as_str().unwrap().parse().unwrap();
    // The gateway reloads the account when told it changed: the seeded
    // grant (whose events are not compared) probes until `wipe` is unknown.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call",
            "params": {"name": "wipe", "arguments": {}}});
        let answer = post_mcp(&client, &fleet.urls[0], &fleet.token, body.to_string())
            .await
            .text()
            .await
            .unwrap();
        if answer.contains("Unknown tool: wipe") {
            break;
        }
        assert!(Instant::now() < deadline, "the candidate never went live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, (tool, arguments)) in calls.iter().enumerate() {
        call(&client, &fleet.urls[0], token, i, tool, arguments).await;
    }
    let real = decisions(&fleet, grant_id, calls.len()).await;
    assert_eq!(by_tool(&report["candidate"]), real, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_costs_the_hot_path_no_round_trip_and_no_query() {
    let options = FleetOptions {
        command: "serve",
        ..FleetOptions::default()
    };
    let fleet = Fleet::start_with("rollout_shadow", REDIS, 1, live_policy(), options).await;
    let api = api(&fleet).await;
    let client = reqwest::Client::new();
    // The shadow counts `search` in a counter of its own, and denies `read`.
    let mut shadow = live_policy();
    shadow["tools"]["search"]["limits"][0]["counter"] = json!("shadow_search");
    shadow["tools"]["read"] = json!({"action": "deny"});
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            &format!("/servers/{}/policy/shadow", fleet.server),
            Some(shadow),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Warm: the account's snapshot (with the shadow) is loaded once.
    call(&client, &fleet.urls[0], &fleet.token, 0, "read", &json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let loads = fleet
        .metric_sum("toolgate_snapshot_cache_loads_total", "")
        .await;
    let limit_calls = fleet
        .metric_sum("toolgate_limit_decisions_total", &fleet.server.to_string())
        .await;
    const N: usize = 40;
    for i in 0..N {
        let tool = if i % 2 == 0 { "search" } else { "read" };
        call(
            &client,
            &fleet.urls[0],
            &fleet.token,
            i + 1,
            tool,
            &json!({}),
        )
        .await;
    }
    // Postgres: no snapshot load (the gateway's only query) during the calls.
    assert_eq!(
        fleet
            .metric_sum("toolgate_snapshot_cache_loads_total", "")
            .await,
        loads
    );
    // Redis: exactly one counter-store script per limited call, and nothing
    // stored for the shadow's counter.
    assert_eq!(
        fleet
            .metric_sum("toolgate_limit_decisions_total", &fleet.server.to_string())
            .await
            - limit_calls,
        (N / 2) as f64
    );
    assert_eq!(fleet.stored_count("search").await, (N / 2) as i64);
    assert_eq!(fleet.stored_count("shadow_search").await, 0);

    // The report: the shadow denies every `read`, and would have counted
    // every `search` against its own counter.
    let started = Instant::now();
    let report = loop {
        let (status, report) = api
            .send(
                reqwest::Method::GET,
                &format!("/servers/{}/policy/shadow", fleet.server),
                None,
            )
            .await;
        assert_eq!(status, 200, "{report}");
        if report["events"] == N + 1 {
            break report;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        report["changes"],
        json!([{"tool": "read", "kind": "tool", "from": "allowed", "to": "unknown_tool",
                "rule": "/tools/read", "count": N / 2 + 1,
                "examples": report["changes"][0]["examples"]}])
    );
    assert_eq!(
        report["shadowed"]["would_have_counted"]["shadow_search"],
        N / 2
    );
}
