//! What happens to a job, as its history (`job_events`) records it, and
//! the webhook each event sends. Every writer (the API, the queue, the
//! worker) and every reader (live streams, webhooks, the web app) goes
//! through these types, so a kind or a status is spelled once.
//!
//! A row stores an event as `kind`, `stage` and `message`: a status change
//! is kind `status` with the new status as its message; a stage boundary is
//! `stage_started`, `stage_completed` or `stage_failed` with its stage.

use cutroom_entities::JobStatus;

use crate::Stage;

/// One event in a job's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEvent {
    Status(StatusChange),
    StageStarted(Stage),
    StageCompleted(Stage),
    StageFailed(Stage),
    /// Moderation raised flags; they are in the review queue.
    ModerationFlagged,
    /// The job's clips are stored and listed.
    ClipsReady,
    /// On a batch's unpack job: the archive is checked and every child
    /// created (`data`: the batch's id and counts).
    BatchUnpacked,
    /// On a batch's unpack job: every child has ended.
    BatchCompleted,
    /// A cloud speech engine refused the tenant's API key (`data`: the
    /// engine, the status and what to do); the key was not tried again.
    EngineKeyRefused,
}

/// The changes a job's status goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// Submitted (or re-rendered) and waiting for a worker.
    Queued,
    /// A worker took it (`data.attempt`, `data.worker`).
    Running,
    /// Its worker stopped answering; it goes back in line.
    Lost,
    /// An attempt failed for a passing reason; it waits for `data.retry_at`.
    Retrying,
    /// Its worker was stopping; another runs it again.
    HandedBack,
    /// An admin sent a failed job back in line.
    Requeued,
    /// The tenant's budget is spent and its settings say to wait: back in
    /// line until `data.retry_at` (`data.message` says why).
    WaitingForBudget,
    Succeeded,
    Failed,
    Cancelled,
}

/// What a webhook endpoint subscribes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    JobCreated,
    JobStageCompleted,
    JobSucceeded,
    JobFailed,
    JobCancelled,
    ModerationFlagged,
    ClipsReady,
    BatchUnpacked,
    BatchCompleted,
    TranscriptionKeyRefused,
}

impl StatusChange {
    pub const ALL: [StatusChange; 10] = [
        StatusChange::Queued,
        StatusChange::Running,
        StatusChange::Lost,
        StatusChange::Retrying,
        StatusChange::HandedBack,
        StatusChange::Requeued,
        StatusChange::WaitingForBudget,
        StatusChange::Succeeded,
        StatusChange::Failed,
        StatusChange::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusChange::Queued => "queued",
            StatusChange::Running => "running",
            StatusChange::Lost => "lost",
            StatusChange::Retrying => "retrying",
            StatusChange::HandedBack => "handed_back",
            StatusChange::Requeued => "requeued",
            StatusChange::WaitingForBudget => "waiting_for_budget",
            StatusChange::Succeeded => "succeeded",
            StatusChange::Failed => "failed",
            StatusChange::Cancelled => "cancelled",
        }
    }

    /// The job ended with this change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StatusChange::Succeeded | StatusChange::Failed | StatusChange::Cancelled
        )
    }
}

impl From<JobStatus> for StatusChange {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => StatusChange::Queued,
            JobStatus::Running => StatusChange::Running,
            JobStatus::Succeeded => StatusChange::Succeeded,
            JobStatus::Failed => StatusChange::Failed,
            JobStatus::Cancelled => StatusChange::Cancelled,
        }
    }
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 10] = [
        WebhookEvent::JobCreated,
        WebhookEvent::JobStageCompleted,
        WebhookEvent::JobSucceeded,
        WebhookEvent::JobFailed,
        WebhookEvent::JobCancelled,
        WebhookEvent::ModerationFlagged,
        WebhookEvent::ClipsReady,
        WebhookEvent::BatchUnpacked,
        WebhookEvent::BatchCompleted,
        WebhookEvent::TranscriptionKeyRefused,
    ];

    /// The `type` of the message, and what endpoints list in `events`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::JobCreated => "job.created",
            WebhookEvent::JobStageCompleted => "job.stage_completed",
            WebhookEvent::JobSucceeded => "job.succeeded",
            WebhookEvent::JobFailed => "job.failed",
            WebhookEvent::JobCancelled => "job.cancelled",
            WebhookEvent::ModerationFlagged => "moderation.flagged",
            WebhookEvent::ClipsReady => "clips.ready",
            WebhookEvent::BatchUnpacked => "batch.unpacked",
            WebhookEvent::BatchCompleted => "batch.completed",
            WebhookEvent::TranscriptionKeyRefused => "transcription.key_refused",
        }
    }

    pub fn from_name(name: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl JobEvent {
    /// The row's `kind`.
    pub fn kind(self) -> &'static str {
        match self {
            JobEvent::Status(_) => "status",
            JobEvent::StageStarted(_) => "stage_started",
            JobEvent::StageCompleted(_) => "stage_completed",
            JobEvent::StageFailed(_) => "stage_failed",
            JobEvent::ModerationFlagged => "moderation_flagged",
            JobEvent::ClipsReady => "clips_ready",
            JobEvent::BatchUnpacked => "batch_unpacked",
            JobEvent::BatchCompleted => "batch_completed",
            JobEvent::EngineKeyRefused => "engine_key_refused",
        }
    }

    /// The row's `stage`.
    pub fn stage(self) -> Option<Stage> {
        match self {
            JobEvent::StageStarted(s) | JobEvent::StageCompleted(s) | JobEvent::StageFailed(s) => {
                Some(s)
            }
            _ => None,
        }
    }

    /// The row's `message`.
    pub fn message(self) -> Option<&'static str> {
        match self {
            JobEvent::Status(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The webhook this event sends, if any.
    pub fn webhook(self) -> Option<WebhookEvent> {
        Some(match self {
            JobEvent::Status(StatusChange::Queued) => WebhookEvent::JobCreated,
            JobEvent::Status(StatusChange::Succeeded) => WebhookEvent::JobSucceeded,
            JobEvent::Status(StatusChange::Failed) => WebhookEvent::JobFailed,
            JobEvent::Status(StatusChange::Cancelled) => WebhookEvent::JobCancelled,
            JobEvent::StageCompleted(_) => WebhookEvent::JobStageCompleted,
            JobEvent::ModerationFlagged => WebhookEvent::ModerationFlagged,
            JobEvent::ClipsReady => WebhookEvent::ClipsReady,
            JobEvent::BatchUnpacked => WebhookEvent::BatchUnpacked,
            JobEvent::BatchCompleted => WebhookEvent::BatchCompleted,
            JobEvent::EngineKeyRefused => WebhookEvent::TranscriptionKeyRefused,
            _ => return None,
        })
    }

    /// A stored row's event; `None` for a row no version wrote.
    pub fn from_row(kind: &str, stage: Option<&str>, message: Option<&str>) -> Option<JobEvent> {
        let stage = || stage.and_then(Stage::from_name);
        Some(match kind {
            "status" => JobEvent::Status(
                StatusChange::ALL
                    .into_iter()
                    .find(|s| Some(s.as_str()) == message)?,
            ),
            "stage_started" => JobEvent::StageStarted(stage()?),
            "stage_completed" => JobEvent::StageCompleted(stage()?),
            "stage_failed" => JobEvent::StageFailed(stage()?),
            "moderation_flagged" => JobEvent::ModerationFlagged,
            "clips_ready" => JobEvent::ClipsReady,
            "batch_unpacked" => JobEvent::BatchUnpacked,
            "batch_completed" => JobEvent::BatchCompleted,
            "engine_key_refused" => JobEvent::EngineKeyRefused,
            _ => return None,
        })
    }

    /// The job ended with this event.
    pub fn is_final(self) -> bool {
        matches!(self, JobEvent::Status(s) if s.is_final())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_event() -> Vec<JobEvent> {
        let mut all: Vec<JobEvent> = StatusChange::ALL
            .into_iter()
            .map(JobEvent::Status)
            .collect();
        for s in Stage::ALL {
            all.extend([
                JobEvent::StageStarted(s),
                JobEvent::StageCompleted(s),
                JobEvent::StageFailed(s),
            ]);
        }
        all.extend([
            JobEvent::ModerationFlagged,
            JobEvent::ClipsReady,
            JobEvent::BatchUnpacked,
            JobEvent::BatchCompleted,
            JobEvent::EngineKeyRefused,
        ]);
        all
    }

    #[test]
    fn every_event_reads_back_from_its_row() {
        for e in every_event() {
            let stage = e.stage().map(Stage::name);
            assert_eq!(JobEvent::from_row(e.kind(), stage, e.message()), Some(e));
        }
        assert_eq!(JobEvent::from_row("status", None, Some("paused")), None);
        assert_eq!(
            JobEvent::from_row("stage_started", Some("render"), None),
            None
        );
    }

    #[test]
    fn every_webhook_is_sent_by_some_event_and_names_read_back() {
        for w in WebhookEvent::ALL {
            assert!(
                every_event().iter().any(|e| e.webhook() == Some(w)),
                "{w:?}"
            );
            assert_eq!(WebhookEvent::from_name(w.as_str()), Some(w));
        }
        assert_eq!(
            JobEvent::Status(StatusChange::Queued).webhook(),
            Some(WebhookEvent::JobCreated)
        );
        assert_eq!(JobEvent::Status(StatusChange::Running).webhook(), None);
        assert_eq!(JobEvent::StageStarted(Stage::Fetch).webhook(), None);
    }
}
