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

    /// The exit status with this number, if it is one of ours.
    pub fn from_code(code: u8) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.code() == code)
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
