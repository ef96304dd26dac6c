//! Two deployments (each with its own database) sharing one Redis, both on
//! their default Redis namespace: each stores exactly its own audit events,
//! and each listens on a change channel of its own.

#![allow(clippy::unwrap_used)]

mod fleet;

use std::time::{Duration, Instant};

use fleet::{fleet_database_url, Fleet, FleetOptions, Outcome};
use serde_json::json;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn start(name: &str) -> Fleet {
    let options = FleetOptions {
        command: "serve",
        unset: vec!["TOOLGATE_REDIS_NAMESPACE"],
        ..FleetOptions::default()
    };
    let policy = json!({"version": "1", "default": "allow"});
    Fleet::start_with(name, &redis_url(), 1, policy, options).await
}

async fn pool(name: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(&fleet_database_url(name))
        .await
        .unwrap()
}

async fn audit_rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "rows!" FROM audit_events"#)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn namespace(pool: &sqlx::PgPool) -> String {
    let id = sqlx::query_scalar!("SELECT id FROM deployment")
        .fetch_one(pool)
        .await
        .unwrap();
    format!("toolgate-{}", &id.simple().to_string()[..12])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployments_sharing_redis_keep_their_audit_and_channels_apart() {
    const CALLS: usize = 40;
    let (a, b) = (start("ns_apart_a").await, start("ns_apart_b").await);
    let (pool_a, pool_b) = (pool("ns_apart_a").await, pool("ns_apart_b").await);
    let (ns_a, ns_b) = (namespace(&pool_a).await, namespace(&pool_b).await);
    assert_ne!(ns_a, ns_b);

    for i in 0..CALLS {
        for fleet in [&a, &b] {
            let outcome = fleet.handle().call(i, "echo").await;
            assert!(matches!(outcome, Outcome::Admitted), "{outcome:?}");
        }
    }

    // Each control plane stores every event of its own deployment; with one
    // shared stream, each would take some of the other's and lose them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut rows_a, mut rows_b) = (0, 0);
    while Instant::now() < deadline {
        (rows_a, rows_b) = (audit_rows(&pool_a).await, audit_rows(&pool_b).await);
        if rows_a >= CALLS as i64 && rows_b >= CALLS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((rows_a, rows_b), (CALLS as i64, CALLS as i64));

    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for ns in [&ns_a, &ns_b] {
        let stream_exists: i64 = redis::cmd("EXISTS")
            .arg(format!("{ns}:audit"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(stream_exists, 1, "{ns}:audit");
        // Approval channels are subscribed only while a call is held.
        let numsub: (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("{ns}:changes"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(numsub.1, 1, "subscribers of {ns}:changes");
    }
}
