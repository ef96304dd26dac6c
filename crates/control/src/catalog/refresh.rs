//! Discovery attempts and where their outcome is recorded.
//!
//! An attempt reads the server's URL and credentials (opened as the
//! gateway's snapshot opens them), asks the upstream through the address
//! guard within the discovery bounds, and records either the catalog or the
//! failure's status. Nothing here fails a request: a registration spawns
//! its attempt, and an attempt's failure is a status, not an error.

use std::time::Duration;

use toolgate_discovery::Status;
use toolgate_store::catalog::{self, CatalogStatus, Found};
use toolgate_store::ids::{AccountId, ServerId};
use toolgate_store::{servers, StoreError};

use crate::state::AppState;

/// Runs one attempt and records its outcome. `Err` only when the server
/// does not exist (in this account) or the database fails.
pub async fn refresh(
    state: &AppState,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<(), StoreError> {
    let server = servers::get(&state.pool, account_id, server_id).await?;
    let headers =
        servers::upstream_headers(&state.pool, &state.secret_key, account_id, server_id).await?;
    let Some(discoverer) = &state.discovery else {
        return catalog::record_failure(
            &state.pool,
            account_id,
            server_id,
            CatalogStatus::Error,
            "tool discovery is off on this control plane",
        )
        .await;
    };
    let headers = headers
        .expose()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    match discoverer.discover(&server.url, &headers).await {
        Ok(found) => {
            let resources = serde_json::to_value(&found.resources).unwrap_or_default();
            let prompts = serde_json::to_value(&found.prompts).unwrap_or_default();
            let detail = (!found.notes.is_empty()).then(|| found.notes.join("; "));
            let era = match found.era {
                toolgate_discovery::Era::Legacy => "legacy",
                toolgate_discovery::Era::Modern => "modern",
            };
            tracing::info!(server = %server_id, tools = found.tools.len(), era, "discovered tools");
            let changed = catalog::record_success(
                &state.pool,
                account_id,
                server_id,
                Found {
                    tools: &found.tools,
                    resources: &resources,
                    prompts: &prompts,
                    era,
                    detail: detail.as_deref(),
                },
            )
            .await?;
            // The gateways check calls against the pins of what is listed.
            if changed {
                state.changes.publish(account_id).await;
            }
            Ok(())
        }
        Err(failure) => {
            tracing::info!(server = %server_id, status = %failure.status, detail = %failure.detail, "discovery failed");
            catalog::record_failure(
                &state.pool,
                account_id,
                server_id,
                stored_status(failure.status),
                &failure.detail,
            )
            .await
        }
    }
}

/// The status recorded for an attempt that ended with `status`.
fn stored_status(status: Status) -> CatalogStatus {
    match status {
        Status::Pending => CatalogStatus::Pending,
        Status::Ok => CatalogStatus::Ok,
        Status::Unreachable => CatalogStatus::Unreachable,
        Status::Unauthorized => CatalogStatus::Unauthorized,
        Status::NotMcp => CatalogStatus::NotMcp,
        Status::TooLarge => CatalogStatus::TooLarge,
        Status::Timeout => CatalogStatus::Timeout,
        Status::RefusedAddress => CatalogStatus::RefusedAddress,
        Status::Error => CatalogStatus::Error,
    }
}

/// Starts an attempt in the background (after a registration or a change
/// of URL or credentials): the request that caused it does not wait.
pub fn spawn_refresh(state: &AppState, account_id: AccountId, server_id: ServerId) {
    let state = state.clone();
    tokio::spawn(async move {
        match refresh(&state, account_id, server_id).await {
            // Deleted meanwhile: nothing to record.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(error) => tracing::warn!(server = %server_id, %error, "cannot record discovery"),
        }
    });
}

/// Refreshes every server of every account, one after another, every
/// `every` (`TOOLGATE_CATALOG_REFRESH_SECS`). Each control-plane replica
/// running it refreshes every server: harmless (an attempt only reads the
/// upstream and records what it found) but repeated, so a deployment with
/// several replicas turns it on for one.
pub struct PeriodicRefresh {
    pub state: AppState,
    pub every: Duration,
}

impl PeriodicRefresh {
    /// Runs until the task is dropped.
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.every).await;
            self.pass().await;
        }
    }

    /// One refresh of every server; returns how many were attempted.
    pub async fn pass(&self) -> usize {
        let all = match catalog::all_servers(&self.state.pool).await {
            Ok(all) => all,
            Err(error) => {
                tracing::warn!(%error, "cannot list servers to refresh their catalogs");
                return 0;
            }
        };
        let count = all.len();
        for (account_id, server_id) in all {
            match refresh(&self.state, account_id, server_id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(error) => {
                    tracing::warn!(server = %server_id, %error, "cannot record discovery");
                }
            }
        }
        count
    }
}
