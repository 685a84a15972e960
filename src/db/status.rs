//! The numeric statuses of tasks and items, as the dictionary tables `task_status` and
//! `task_item_status` hold them: one place for every repository and the engine.

/// `task.status_id` values (`task_status`).
pub mod task {
    /// Created by the panel, not started.
    pub const NEW: u8 = 0;
    /// Being processed.
    pub const IN_PROGRESS: u8 = 1;
    /// Every item processed successfully.
    pub const COMPLETED: u8 = 2;
    /// Stopped, or some items failed.
    pub const ERROR: u8 = 3;
    /// Set aside by the panel (or `ai-worker pause`): no item is claimed until it is
    /// NEW or IN_PROGRESS again. The worker never overwrites it.
    pub const PAUSED: u8 = 4;
    /// Called off by the panel (or `ai-worker cancel`): no item is claimed; its
    /// pending items stay PENDING. The worker never overwrites it.
    pub const CANCELLED: u8 = 5;

    /// The status name as the dictionary table spells it.
    pub fn name(status: u8) -> &'static str {
        match status {
            NEW => "NEW",
            IN_PROGRESS => "IN_PROGRESS",
            COMPLETED => "COMPLETED",
            ERROR => "ERROR",
            PAUSED => "PAUSED",
            CANCELLED => "CANCELLED",
            _ => "UNKNOWN",
        }
    }

    /// Whether the panel has set the task aside (paused or cancelled it): the worker
    /// claims nothing for it and writes no status over it.
    pub fn held_by_panel(status: u8) -> bool {
        status == PAUSED || status == CANCELLED
    }
}

/// `task_item.status_id` values (`task_item_status`).
pub mod item {
    /// Waiting to be processed.
    pub const PENDING: u8 = 0;
    /// Result saved.
    pub const PROCESSED: u8 = 1;
    /// Claimed by a worker.
    pub const PROCESSING: u8 = 2;
    /// Failed.
    pub const ERROR: u8 = 3;
}
