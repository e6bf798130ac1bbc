//! The engine with two small stages, `a` → `b`: downstream staleness, the
//! scheduler entry point, failures and cancellation leave nothing that looks
//! complete.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use sealtune_pipeline::manifest::{Manifest, State, Status};
use sealtune_pipeline::{
    CancelToken, Config, ConfigError, Engine, Events, Exit, RunOptions, Stage, StageContext,
    StageError, StageOutcome,
};

/// Stage `a`: copies `[a].text` and the external file into `out.txt`.
struct A {
    runs: AtomicUsize,
}
/// Stage `b`: reads a's output, writes it upper-cased; fails if `[b].fail`.
struct B {
    runs: AtomicUsize,
}

impl Stage for A {
    fn name(&self) -> &'static str {
        "a"
    }
    fn code_version(&self) -> &'static str {
        "a/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }
    fn sections(&self) -> &'static [&'static str] {
        &["a"]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(vec![cfg.resolve(Path::new("input.txt"))])
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let text = ctx.config().section_json("a")["text"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let input = std::fs::read_to_string(&ctx.external_inputs()[0].path).unwrap();
        std::fs::create_dir_all(ctx.out_dir().join("sub")).unwrap();
        std::fs::write(ctx.out_dir().join("sub/out.txt"), format!("{text}:{input}")).unwrap();
        Ok(json!({"n": 1}))
    }
}

impl Stage for B {
    fn name(&self) -> &'static str {
        "b"
    }
    fn code_version(&self) -> &'static str {
        "b/1"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        &["a"]
    }
    fn sections(&self) -> &'static [&'static str] {
        &["b"]
    }
    fn validate(&self, _: &Config) -> Result<(), ConfigError> {
        Ok(())
    }
    fn external_inputs(&self, _: &Config) -> Result<Vec<PathBuf>, StageError> {
        Ok(vec![])
    }
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let s = std::fs::read_to_string(ctx.input_dir("a")?.join("sub/out.txt")).unwrap();
        std::fs::write(ctx.out_dir().join("partial.txt"), "half").unwrap();
        // Scratch state survives a failure, for resumable stages.
        let marker = ctx.work_dir().join("attempts");
        let n = std::fs::read_to_string(&marker)
            .map(|s| s.len())
            .unwrap_or(0);
        std::fs::write(&marker, "x".repeat(n + 1)).unwrap();
        if ctx.config().section_json("b")["fail"] == json!(true) {
            return Err(StageError::data("b was told to fail"));
        }
        if ctx.config().section_json("b")["cancel"] == json!(true) {
            ctx.events().warn("cancelling");
            return Err(StageError::interrupted());
        }
        std::fs::write(ctx.out_dir().join("out.txt"), s.to_uppercase()).unwrap();
        Ok(json!({"attempts": n + 1}))
    }
}

struct Fixture {
    tmp: tempfile::TempDir,
    stages: Vec<Box<dyn Stage>>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("input.txt"), "in").unwrap();
        Fixture {
            tmp,
            stages: vec![
                Box::new(A {
                    runs: AtomicUsize::new(0),
                }),
                Box::new(B {
                    runs: AtomicUsize::new(0),
                }),
            ],
        }
    }
    fn cfg(&self, body: &str) -> Config {
        let p = self.tmp.path().join("c.toml");
        std::fs::write(&p, body).unwrap();
        Config::load(&p, &["a", "b"]).unwrap()
    }
    fn run_dir(&self) -> PathBuf {
        self.tmp.path().join("run")
    }
    fn with<R>(&self, body: &str, cancel: CancelToken, f: impl FnOnce(&Engine<'_>) -> R) -> R {
        let cfg = self.cfg(body);
        let events = Events::new(false, true);
        let e = Engine::new(&self.stages, &cfg, self.run_dir(), &events, cancel);
        f(&e)
    }
    fn run(&self, body: &str) -> Result<Vec<(String, StageOutcome)>, StageError> {
        self.with(body, CancelToken::new(), |e| e.run(&RunOptions::default()))
    }
}

fn outcomes(v: &[(String, StageOutcome)]) -> Vec<(&str, &StageOutcome)> {
    v.iter().map(|(n, o)| (n.as_str(), o)).collect()
}

#[test]
fn downstream_goes_stale_with_upstream_and_only_then() {
    let f = Fixture::new();
    let cfg = "[a]\ntext = \"one\"\n[b]\nx = 1\n";
    let r = f.run(cfg).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![("a", &StageOutcome::Ran), ("b", &StageOutcome::Ran)]
    );
    assert_eq!(
        std::fs::read_to_string(f.run_dir().join("b/out.txt")).unwrap(),
        "ONE:IN"
    );
    let r = f.run(cfg).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![("a", &StageOutcome::Skipped), ("b", &StageOutcome::Skipped)]
    );

    // Changing b's section reruns b only.
    let cfg2 = "[a]\ntext = \"one\"\n[b]\nx = 2\n";
    let r = f.run(cfg2).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![("a", &StageOutcome::Skipped), ("b", &StageOutcome::Ran)]
    );

    // Changing a's section makes both stale; both rerun.
    let cfg3 = "[a]\ntext = \"two\"\n[b]\nx = 2\n";
    f.with(cfg3, CancelToken::new(), |e| {
        assert!(e.staleness("a").unwrap().is_some());
        let why = e.staleness("b").unwrap().unwrap();
        assert!(why.contains("upstream stage a"), "{why}");
    });
    let r = f.run(cfg3).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![("a", &StageOutcome::Ran), ("b", &StageOutcome::Ran)]
    );

    // An external input change does the same.
    std::fs::write(f.tmp.path().join("input.txt"), "changed").unwrap();
    let r = f.run(cfg3).unwrap();
    assert_eq!(
        outcomes(&r),
        vec![("a", &StageOutcome::Ran), ("b", &StageOutcome::Ran)]
    );
    assert_eq!(
        std::fs::read_to_string(f.run_dir().join("b/out.txt")).unwrap(),
        "TWO:CHANGED"
    );

    // Forcing a with identical output leaves b up to date (its input digest is unchanged).
    let r = f.with(cfg3, CancelToken::new(), |e| {
        e.run(&RunOptions {
            force: vec!["a".into()],
            ..Default::default()
        })
    });
    assert_eq!(
        outcomes(&r.unwrap()),
        vec![("a", &StageOutcome::Ran), ("b", &StageOutcome::Skipped)]
    );
    sealtune_pipeline::audit::verify(&f.run_dir().join("audit.jsonl")).unwrap();
}

#[test]
fn scheduler_entry_refuses_missing_or_stale_upstream() {
    let f = Fixture::new();
    let cfg = "[a]\ntext = \"one\"\n";
    let e = f
        .with(cfg, CancelToken::new(), |e| e.run_single("b", false))
        .unwrap_err();
    assert_eq!(e.exit(), Exit::NoInput);
    assert!(e.message().contains("stage b needs stage a"), "{e}");
    assert!(!f.run_dir().join("b").exists());

    f.with(cfg, CancelToken::new(), |e| e.run_single("a", false))
        .unwrap();
    f.with(cfg, CancelToken::new(), |e| e.run_single("b", false))
        .unwrap();
    let e = f
        .with("[a]\ntext = \"new\"\n", CancelToken::new(), |e| {
            e.run_single("b", false)
        })
        .unwrap_err();
    assert_eq!(e.exit(), Exit::NoInput);
    assert!(e.message().contains("not up to date"), "{e}");

    // --from b needs a fresh a too.
    let e = f
        .with("[a]\ntext = \"new\"\n", CancelToken::new(), |e| {
            e.run(&RunOptions {
                from: Some("b".into()),
                ..Default::default()
            })
        })
        .unwrap_err();
    assert_eq!(e.exit(), Exit::NoInput);
    // --to a runs only a.
    let r = f
        .with("[a]\ntext = \"new\"\n", CancelToken::new(), |e| {
            e.run(&RunOptions {
                to: Some("a".into()),
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(outcomes(&r), vec![("a", &StageOutcome::Ran)]);
}

#[test]
fn failure_keeps_the_previous_result_and_leaves_no_partial_output() {
    let f = Fixture::new();
    f.run("[a]\ntext = \"one\"\n").unwrap();
    let before = Manifest::read(&f.run_dir().join("b")).unwrap();
    let e = f
        .run("[a]\ntext = \"one\"\n[b]\nfail = true\n")
        .unwrap_err();
    assert_eq!(e.exit(), Exit::DataErr);
    // The old, complete result is untouched (and now stale); no staging dir is left.
    assert_eq!(Manifest::read(&f.run_dir().join("b")).unwrap(), before);
    assert!(!f.run_dir().join(".staging-b").exists());
    let st = Status::read(&f.run_dir()).unwrap();
    assert_eq!(st.stages["b"].state, State::Failed);
    assert_eq!(st.stages["b"].exit_code, Some(65));
    // The scratch dir kept its state across the failed attempt, and is cleared on success.
    let r = f.run("[a]\ntext = \"one\"\n[b]\nfail = true\n");
    assert!(r.is_err());
    assert_eq!(
        std::fs::read_to_string(f.run_dir().join(".work/b/attempts")).unwrap(),
        "xx"
    );
    f.run("[a]\ntext = \"one\"\n[b]\nok = 1\n").unwrap();
    assert!(!f.run_dir().join(".work/b").exists());
    let log = std::fs::read_to_string(f.run_dir().join("audit.jsonl")).unwrap();
    assert!(log.contains("\"stage.fail\""));
}

#[test]
fn cancellation_is_recorded_as_interrupted() {
    let f = Fixture::new();
    let cancel = CancelToken::new();
    cancel.cancel();
    let e = f
        .with("[a]\ntext = \"one\"\n", cancel, |e| {
            e.run(&RunOptions::default())
        })
        .unwrap_err();
    assert_eq!(e.exit(), Exit::TempFail);
    assert!(!f.run_dir().join("a").exists());

    // A stage that notices the cancellation mid-way.
    let cancel = CancelToken::new();
    let e = f
        .with(
            "[a]\ntext = \"one\"\n[b]\ncancel = true\n",
            cancel.clone(),
            |e| {
                let r = e.run(&RunOptions::default());
                cancel.cancel();
                r
            },
        )
        .unwrap_err();
    assert_eq!(e.exit(), Exit::TempFail);
    assert!(!f.run_dir().join("b").exists());
}

#[test]
fn a_second_engine_cannot_run_while_the_lock_is_held() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.run_dir()).unwrap();
    let _held = sealtune_pipeline::lock::RunLock::acquire(&f.run_dir()).unwrap();
    let e = f.run("[a]\ntext = \"one\"\n").unwrap_err();
    assert_eq!(e.exit(), Exit::TempFail);
    assert!(e.message().contains("is locked by pid"), "{e}");
}

// ---- The run directory as an attacker or a careless user leaves it ----

const CFG: &str = "[a]\ntext = \"one\"\n[b]\nx = 1\n";

fn log_path(f: &Fixture) -> PathBuf {
    f.run_dir().join("audit.jsonl")
}

/// Run, damage the run directory with `damage`, run again: the second run must
/// be refused with `exit` and a message containing `needle`, and must not
/// have appended to the log.
fn refused_after(damage: impl FnOnce(&Fixture), exit: Exit, needle: &str) -> Fixture {
    let f = Fixture::new();
    f.run(CFG).unwrap();
    damage(&f);
    let before = std::fs::read(log_path(&f)).ok();
    let e = f.run(CFG).unwrap_err();
    assert_eq!(e.exit(), exit, "{}", e.message());
    assert!(e.message().contains(needle), "{}", e.message());
    assert_eq!(
        std::fs::read(log_path(&f)).ok(),
        before,
        "the log was touched"
    );
    f
}

#[test]
fn a_log_cut_at_its_end_is_refused_before_anything_is_appended() {
    let f = refused_after(
        |f| {
            let text = std::fs::read_to_string(log_path(f)).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let kept = lines[..lines.len() - 2].join("\n") + "\n";
            std::fs::write(log_path(f), kept).unwrap();
        },
        Exit::DataErr,
        "status.json records audit entry seq",
    );
    // The chain itself is intact; only the anchor tells.
    sealtune_pipeline::audit::verify(&log_path(&f)).unwrap();
}

#[test]
fn an_emptied_or_deleted_log_is_refused() {
    refused_after(
        |f| std::fs::write(log_path(f), "").unwrap(),
        Exit::DataErr,
        "is empty",
    );
    refused_after(
        |f| std::fs::remove_file(log_path(f)).unwrap(),
        Exit::DataErr,
        "is missing",
    );
    // Deleting status.json too leaves the stage manifests as anchors.
    refused_after(
        |f| {
            std::fs::remove_file(log_path(f)).unwrap();
            std::fs::remove_file(f.run_dir().join("status.json")).unwrap();
        },
        Exit::DataErr,
        "a/manifest.json records audit entry seq",
    );
}

#[test]
fn a_rewritten_chain_is_refused() {
    refused_after(
        |f| {
            // A consistent chain of the same length, and a status.json that agrees with it.
            let n = sealtune_pipeline::audit::verify(&log_path(f))
                .unwrap()
                .unwrap()
                .seq;
            let fake = f.tmp.path().join("fake.jsonl");
            let mut log = sealtune_pipeline::audit::AuditLog::open(&fake).unwrap();
            let mut head = None;
            for i in 0..n {
                head = Some(log.append("run.start", None, json!({ "i": i })).unwrap());
            }
            drop(log);
            std::fs::copy(&fake, log_path(f)).unwrap();
            let mut st = Status::read(&f.run_dir()).unwrap();
            st.audit_head = head;
            st.write(&f.run_dir()).unwrap();
        },
        Exit::DataErr,
        "the log was rewritten",
    );
}

#[test]
fn links_in_the_run_directory_are_never_written_through() {
    use std::os::unix::fs::symlink;
    for (name, exit) in [
        ("run.lock", Exit::CantCreate),
        ("audit.jsonl", Exit::CantCreate),
        (".work", Exit::CantCreate),
    ] {
        let f = Fixture::new();
        f.run(CFG).unwrap();
        let target = f.tmp.path().join("precious");
        std::fs::write(&target, "do not touch").unwrap();
        let p = f.run_dir().join(name);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            let _ = std::fs::remove_file(&p);
        }
        symlink(&target, &p).unwrap();
        let e = f.run(CFG).unwrap_err();
        assert_eq!(e.exit(), exit, "{name}: {}", e.message());
        assert!(e.message().contains("symbolic link"), "{}", e.message());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    }
}

#[test]
fn a_file_sealtune_did_not_write_is_never_deleted() {
    let f = Fixture::new();
    f.run(CFG).unwrap();
    let foreign = f.run_dir().join("a/important.txt");
    std::fs::write(&foreign, "mine").unwrap();
    let e = f.run("[a]\ntext = \"two\"\n[b]\nx = 1\n").unwrap_err();
    assert_eq!(e.exit(), Exit::CantCreate, "{}", e.message());
    assert!(e.message().contains("important.txt"), "{}", e.message());
    assert!(e.message().contains("not written by sealtune"));
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "mine");
    // Moved out, the run goes on.
    std::fs::remove_file(&foreign).unwrap();
    f.run("[a]\ntext = \"two\"\n[b]\nx = 1\n").unwrap();
}

#[test]
fn unsafe_run_directories_are_refused() {
    let f = Fixture::new();
    let cfg = f.cfg(CFG);
    let events = Events::new(false, true);
    let attempt = |dir: PathBuf| {
        Engine::new(&f.stages, &cfg, dir, &events, CancelToken::new())
            .run(&RunOptions::default())
            .unwrap_err()
    };
    let e = attempt(PathBuf::from("/"));
    assert_eq!(e.exit(), Exit::Config);
    assert!(
        e.message().contains("root of the file system"),
        "{}",
        e.message()
    );
    // `dir = ".."` from a config in a sub-directory: the directory that holds it.
    let e = attempt(f.tmp.path().join("sub/.."));
    assert_eq!(e.exit(), Exit::Config);
    assert!(
        e.message().contains("holds the config file"),
        "{}",
        e.message()
    );
    // Someone else's non-empty directory.
    let other = f.tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "x").unwrap();
    let e = attempt(other.clone());
    assert_eq!(e.exit(), Exit::Config);
    assert!(e.message().contains("notes.txt"), "{}", e.message());
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}
