//! Presence figures (issue #2): lands with the presence tracker.

pub fn run() -> anyhow::Result<()> {
    Ok(())
}
