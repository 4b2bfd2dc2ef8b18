//! Asking a server: one connection, one request, each within
//! [`REQUEST_TIMEOUT`], every answer checked before it is shown.

use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;
use tt_client::TrueTimeClient;
use tt_proto::v1::{HistoryRequest, HistoryResponse, NowRequest, StatusRequest, StatusResponse};
use tt_proto::NowAnswer;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `work` against `target` within [`REQUEST_TIMEOUT`].
async fn within<T>(
    target: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer from {} within {} s; is the server stuck?",
                shown(target),
                REQUEST_TIMEOUT.as_secs()
            ))
        })
}

/// The target as people wrote it: a socket path without the `unix:` that
/// marks it as one.
pub fn shown(target: &str) -> &str {
    target.strip_prefix("unix:").unwrap_or(target)
}

/// A connection to `target`.
pub async fn connect(target: &str) -> Result<TrueTimeClient<Channel>, String> {
    within(target, async {
        tt_client::connect(target).await.map_err(|e| e.to_string())
    })
    .await
}

fn failed(target: &str, status: &tonic::Status) -> String {
    if status.code() == tonic::Code::Unimplemented {
        return format!(
            "{} does not answer this request ({}); is it an older version?",
            shown(target),
            status.message()
        );
    }
    format!(
        "{} answered with an error: {:?}: {}",
        shown(target),
        status.code(),
        status.message()
    )
}

/// `Now` at `target`, checked.
pub async fn now(target: &str) -> Result<NowAnswer, String> {
    within(target, async {
        let mut client = tt_client::connect(target)
            .await
            .map_err(|e| e.to_string())?;
        let response = client
            .now(NowRequest {})
            .await
            .map_err(|status| failed(target, &status))?
            .into_inner();
        response.check().map_err(|bad| {
            format!(
                "{} sent an answer that makes no sense: {bad}",
                shown(target)
            )
        })
    })
    .await
}

/// `Status` at `target`, and its combined interval checked.
pub async fn status(target: &str) -> Result<(StatusResponse, NowAnswer), String> {
    let mut client = connect(target).await?;
    status_with(&mut client, target).await
}

/// `Status` on an open connection.
pub async fn status_with(
    client: &mut TrueTimeClient<Channel>,
    target: &str,
) -> Result<(StatusResponse, NowAnswer), String> {
    within(target, async {
        let status = client
            .status(StatusRequest {})
            .await
            .map_err(|status| failed(target, &status))?
            .into_inner();
        let combined = status
            .combined
            .as_ref()
            .ok_or_else(|| {
                format!(
                    "{} sent a status without a combined interval",
                    shown(target)
                )
            })?
            .check()
            .map_err(|bad| {
                format!(
                    "{} sent a combined interval that makes no sense: {bad}",
                    shown(target)
                )
            })?;
        Ok((status, combined))
    })
    .await
}

/// `History` of the last `window_s` seconds at `target`.
pub async fn history(target: &str, window_s: u32) -> Result<HistoryResponse, String> {
    within(target, async {
        let mut client = tt_client::connect(target)
            .await
            .map_err(|e| e.to_string())?;
        let history = client
            .history(HistoryRequest { window_s })
            .await
            .map_err(|status| failed(target, &status))?
            .into_inner();
        Ok(history)
    })
    .await
}
