//! The binary's error: a message and the exit code it ends the process with.

use sealtune_contract::ExitStatus;
use sealtune_pipeline::Exit;

/// An error with its exit code decided.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

/// Any library error: its own exit status, and its message with every cause.
impl<E: ExitStatus> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail {
            exit: e.exit(),
            message: sealtune_contract::with_causes(&e),
        }
    }
}
