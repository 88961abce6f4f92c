//! cron (lands with issue #2).
