//! Cooperative cancellation on SIGINT and SIGTERM.
//!
//! The first signal sets a flag that stages check at safe points (between
//! records, between training steps); the stage then stops, leaves no output
//! that looks complete, and the process exits 75. A second SIGINT or SIGTERM
//! ends the process at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared flag that says "stop at the next safe point".
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Install SIGINT/SIGTERM handlers that cancel this token. A second signal
    /// terminates the process immediately with status 130 (SIGINT) or 143 (SIGTERM).
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&self.0))?;
        flag::register_conditional_shutdown(SIGTERM, 143, Arc::clone(&self.0))?;
        flag::register(SIGINT, Arc::clone(&self.0))?;
        flag::register(SIGTERM, Arc::clone(&self.0))?;
        Ok(())
    }

    /// Request cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
