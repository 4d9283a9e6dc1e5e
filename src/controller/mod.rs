//! The SocialConnection controller.

use crate::config::RunArgs;
use crate::error::Result;

/// Runs the controller until a shutdown signal.
pub async fn run(_args: RunArgs) -> Result<()> {
    Ok(())
}
