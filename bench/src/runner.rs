//! Runner figures (issue #2): lands with the runner.

pub fn run() -> anyhow::Result<()> {
    Ok(())
}
