//! The Redis backend against the real Redis on 127.0.0.1:6379. Each test uses
//! its own channel (and, where it kills connections, its own ACL user), so
//! tests run in parallel without hearing or hurting each other.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use toolgate_changes::{Change, ChangeBus, Subscription};
use toolgate_store::ids::AccountId;
use uuid::Uuid;

const REDIS: &str = "redis://127.0.0.1:6379";

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4().simple())
}

fn bus(channel: &str) -> ChangeBus {
    ChangeBus::redis_with_channel(REDIS, channel).unwrap()
}

async fn within(limit: Duration, subscription: &mut Subscription) -> Change {
    tokio::time::timeout(limit, subscription.recv())
        .await
        .unwrap_or_else(|_| panic!("no change within {limit:?}"))
}

/// The first change of a fresh subscription, once it is connected.
async fn connected(subscription: &mut Subscription) {
    assert_eq!(
        within(Duration::from_secs(5), subscription).await,
        Change::All
    );
}

async fn nothing_within(limit: Duration, subscription: &mut Subscription) {
    if let Ok(change) = tokio::time::timeout(limit, subscription.recv()).await {
        panic!("unexpected {change:?}");
    }
}

async fn admin() -> MultiplexedConnection {
    redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn pubsub_clients_of(admin: &mut MultiplexedConnection, user: &str) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(admin)
        .await
        .unwrap();
    let field = format!(" user={user} ");
    list.lines().filter(|line| line.contains(&field)).count()
}

#[tokio::test]
async fn a_subscriber_hears_all_first_then_what_another_bus_publishes() {
    let channel = unique("toolgate:test:");
    let mut subscription = bus(&channel).subscribe();
    connected(&mut subscription).await;

    let publisher = bus(&channel);
    let account = AccountId::new();
    publisher.publish(account).await;
    assert_eq!(
        within(Duration::from_secs(1), &mut subscription).await,
        Change::Account(account)
    );
    let (first, second) = (AccountId::new(), AccountId::new());
    publisher.publish(first).await;
    publisher.publish(second).await;
    assert_eq!(
        within(Duration::from_secs(1), &mut subscription).await,
        Change::Account(first)
    );
    assert_eq!(
        within(Duration::from_secs(1), &mut subscription).await,
        Change::Account(second)
    );
    assert_eq!(publisher.publish_failures(), 0);
}

#[tokio::test]
async fn buses_on_other_channels_are_not_heard() {
    let channel = unique("toolgate:test:");
    let mut subscription = bus(&channel).subscribe();
    connected(&mut subscription).await;
    bus(&unique("toolgate:test:"))
        .publish(AccountId::new())
        .await;
    nothing_within(Duration::from_millis(300), &mut subscription).await;
}

#[tokio::test]
async fn a_foreign_message_on_the_channel_means_drop_everything() {
    let channel = unique("toolgate:test:");
    let mut subscription = bus(&channel).subscribe();
    connected(&mut subscription).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("not-an-account-id")
        .query_async(&mut admin().await)
        .await
        .unwrap();
    assert_eq!(
        within(Duration::from_secs(1), &mut subscription).await,
        Change::All
    );
}

/// The subscriber connects as a user of its own, so the test can kill exactly
/// its connection (`CLIENT KILL TYPE pubsub` would hit every test's).
#[tokio::test]
async fn a_killed_subscription_reconnects_says_all_and_hears_later_publishes() {
    let mut admin = admin().await;
    let user = unique("toolgate-test-");
    let password = Uuid::new_v4().simple().to_string();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(format!(">{password}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async(&mut admin)
        .await
        .unwrap();
    let channel = unique("toolgate:test:");
    let subscriber = ChangeBus::redis_with_channel(
        &format!("redis://{user}:{password}@127.0.0.1:6379"),
        &channel,
    )
    .unwrap();
    let publisher = bus(&channel);

    let mut subscription = subscriber.subscribe();
    connected(&mut subscription).await;
    for _ in 0..2 {
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&user)
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(killed, 1, "exactly the subscription's connection");
        connected(&mut subscription).await;

        let account = AccountId::new();
        publisher.publish(account).await;
        assert_eq!(
            within(Duration::from_secs(1), &mut subscription).await,
            Change::Account(account)
        );
    }

    // Dropping the subscription closes its connection and stops its task.
    assert_eq!(pubsub_clients_of(&mut admin, &user).await, 1);
    drop(subscription);
    let deadline = Instant::now() + Duration::from_secs(2);
    while pubsub_clients_of(&mut admin, &user).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the connection outlived its subscription"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let _: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn publishing_to_an_unreachable_redis_returns_promptly_and_is_counted() {
    // A closed port refuses at once; an unroutable address may hang until the
    // publish timeout.
    for url in ["redis://127.0.0.1:1", "redis://10.255.255.1:6379"] {
        let bus = ChangeBus::redis_with_channel(url, unique("toolgate:test:")).unwrap();
        for attempt in 1..=2 {
            let started = Instant::now();
            bus.publish(AccountId::new()).await;
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{url}: publish took {:?}",
                started.elapsed()
            );
            assert_eq!(bus.publish_failures(), attempt);
        }
    }
}

#[tokio::test]
async fn a_subscription_says_nothing_until_it_is_connected() {
    let bus = ChangeBus::redis_with_channel("redis://127.0.0.1:1", "toolgate:test").unwrap();
    let mut subscription = bus.subscribe();
    nothing_within(Duration::from_millis(500), &mut subscription).await;
}
