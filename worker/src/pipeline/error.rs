//! How a stage ends early.

use std::fmt::Display;

use cutroom_core::ErrorCode;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    /// The job cannot succeed as it stands.
    #[error("{0}")]
    Failed(Failure),
    /// The job must stop now; the reason decides how it is recorded.
    #[error("stopped ({0:?})")]
    Stopped(StopReason),
    /// The tenant's budget is spent and it chose to wait: the job goes
    /// back in line until `until`, this attempt uncounted.
    #[error("waiting for the budget until {until}: {reason}")]
    WaitForBudget {
        until: chrono::DateTime<chrono::Utc>,
        reason: String,
    },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A failure as the user sees it, plus what only the logs should see.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: ErrorCode,
    /// Shown to the user: what is wrong with their source or what to do,
    /// never internals such as storage endpoints or stack traces.
    pub message: String,
    /// The underlying error, logged once when the job is settled.
    pub detail: Option<String>,
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl StageError {
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        StageError::Failed(Failure {
            code,
            message: message.into(),
            detail: None,
        })
    }

    /// Attaches the underlying error for the logs.
    pub fn detail(mut self, detail: impl Display) -> Self {
        if let StageError::Failed(f) = &mut self {
            f.detail = Some(detail.to_string());
        }
        self
    }

    /// The error code, when this is a failure.
    #[cfg(test)]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            StageError::Failed(f) => Some(f.code),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user cancelled or deleted the job.
    Cancelled,
    /// This worker is shutting down.
    Shutdown,
}
