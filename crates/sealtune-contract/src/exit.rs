//! Process exit codes: the contract that schedulers (Slurm, Kubernetes, Argo)
//! rely on. Every error sealtune reports maps to exactly one of these.

use std::fmt;

/// A sealtune exit status. The numbers follow BSD `sysexits.h` where one fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// 0: success, or every requested stage was already up to date.
    Success,
    /// 3: a release gate failed; retrying will not help.
    GateFailed,
    /// 64: the command line was wrong.
    Usage,
    /// 65: input data is malformed (bad JSON, schema, UTF-8, oversize record, tampered file).
    DataErr,
    /// 66: an input is missing: a file, a glob that matched nothing, or an upstream stage
    /// that has not run or is stale.
    NoInput,
    /// 70: an internal error (a bug): please report it.
    Software,
    /// 73: an output could not be created.
    CantCreate,
    /// 74: an I/O error while reading or writing.
    IoErr,
    /// 75: a temporary failure; a retry may help (interrupted by a signal, run directory
    /// locked by another process).
    TempFail,
    /// 77: a permission or key error (wrong key, bad signature, insecure key file).
    NoPerm,
    /// 78: the configuration is invalid.
    Config,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 11] = [
        Exit::Success,
        Exit::GateFailed,
        Exit::Usage,
        Exit::DataErr,
        Exit::NoInput,
        Exit::Software,
        Exit::CantCreate,
        Exit::IoErr,
        Exit::TempFail,
        Exit::NoPerm,
        Exit::Config,
    ];

    /// The numeric process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::GateFailed => 3,
            Exit::Usage => 64,
            Exit::DataErr => 65,
            Exit::NoInput => 66,
            Exit::Software => 70,
            Exit::CantCreate => 73,
            Exit::IoErr => 74,
            Exit::TempFail => 75,
            Exit::NoPerm => 77,
            Exit::Config => 78,
        }
    }

    /// A one-line description, as printed by `--help` and the README.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success, or everything was already up to date (skipped)",
            Exit::GateFailed => "a release gate failed (do not retry)",
            Exit::Usage => "command-line usage error",
            Exit::DataErr => "bad input data (malformed record, invalid UTF-8, oversize line)",
            Exit::NoInput => "missing input (file, glob, or upstream stage missing or stale)",
            Exit::Software => "internal error (a bug: please report it)",
            Exit::CantCreate => "cannot create an output",
            Exit::IoErr => "I/O error",
            Exit::TempFail => "temporary failure, retry may help (interrupted, run dir locked)",
            Exit::NoPerm => "permission or key error",
            Exit::Config => "configuration error",
        }
    }

    /// The table of exit codes as plain text, for `--help`.
    pub fn help_table() -> String {
        let mut s = String::from("Exit codes:\n");
        for e in Exit::ALL {
            s.push_str(&format!("  {:>3}  {}\n", e.code(), e.meaning()));
        }
        s
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// An error that knows which exit status it ends the process with. Every library error
/// in sealtune implements it, so an error becomes a stage error or a process exit
/// without a table of numbers between them.
pub trait ExitStatus: std::error::Error {
    /// The exit status this error maps to.
    fn exit(&self) -> Exit;
}

/// The error's message followed by each cause in its source chain that the message does
/// not already contain, joined by `": "` (how the CLI prints an error and its causes).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !text.is_empty() && !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert_eq!(Exit::TempFail.code(), 75);
        assert_eq!(Exit::GateFailed.code(), 3);
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot read x.json")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_appended_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(with_causes(&e), "cannot read x.json: disk on fire");
    }
}
