use super::*;

use std::path::PathBuf;

fn quickstart() -> Config {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/quickstart.toml");
    let sections: Vec<&str> = sealtune_pipeline::config::ALL_SECTIONS[1..].to_vec();
    Config::load(&normalize(&p), &sections).expect("quickstart config loads")
}

fn file<'a>(p: &'a Plan, name: &str) -> &'a str {
    &p.files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no file {name}"))
        .text
}

fn parse(text: &str) -> Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

const KEY_NAMES: [&str; 3] = ["mask.key", "quickstart.key.pem", "quickstart.kek"];

#[test]
fn slurm_scripts_chain_requeue_and_forward_the_warning() {
    let cfg = quickstart();
    let p = plan(&cfg, Target::Slurm, &Options::default()).unwrap();
    let names: Vec<_> = p.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ingest.sbatch",
            "mask.sbatch",
            "train.sbatch",
            "eval.sbatch",
            "release.sbatch",
            "submit.sh"
        ]
    );
    for s in STAGES {
        let t = file(&p, &format!("{}.sbatch", s.name));
        assert!(t.contains("#SBATCH --requeue"), "{t}");
        assert!(t.contains(&format!("#SBATCH --signal=B:USR1@{}", s.grace_s)));
        assert!(t.contains(&format!("stage {} --config", s.name)));
        assert!(t.contains("#SBATCH --partition=FILL_IN_PARTITION"));
        assert!(t.contains(&format!("#SBATCH --cpus-per-task={}", s.cpus)));
        assert!(!t.contains("--gres"), "CPU config asks for no GPU");
        assert!(t.contains("scontrol requeue"));
        assert!(t.contains("kill -TERM"));
    }
    // Only release's comment names the signing key and the KEK.
    assert!(file(&p, "release.sbatch").contains("release.signing_key_file"));
    for s in ["ingest", "mask", "train", "eval"] {
        assert!(!file(&p, &format!("{s}.sbatch")).contains("signing_key"));
    }
    assert!(!file(&p, "ingest.sbatch").contains("mask.key_file"));
    let sub = file(&p, "submit.sh");
    assert!(sub.contains("--dependency=afterok:"));
    assert!(sub.contains("--kill-on-invalid-dep=yes"));
    assert!(sub.contains("for s in ingest mask train eval release"));
    assert_eq!(p.placeholders.len(), 1);
    assert_eq!(p.placeholders[0].token, "FILL_IN_PARTITION");
}

#[test]
fn slurm_scripts_pass_bash_syntax_check() {
    let cfg = quickstart();
    let p = plan(
        &cfg,
        Target::Slurm,
        &Options {
            partition: Some("debug".into()),
            sealtune: Some("/opt/sealtune dir/sealtune".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p.placeholders.is_empty());
    let d = tempfile::tempdir().unwrap();
    for f in &p.files {
        let path = d.path().join(&f.name);
        std::fs::write(&path, &f.text).unwrap();
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}: {}",
            f.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        file(&p, "train.sbatch").contains("SEALTUNE=${SEALTUNE:-'/opt/sealtune dir/sealtune'}")
    );
}

/// Runs a Slurm stage script with a fake sealtune and a fake scontrol: a
/// USR1 warning becomes one SIGTERM for sealtune, its 75 is passed on and
/// the job requeues itself; a SIGTERM to the shell does not requeue.
#[test]
fn slurm_script_forwards_the_warning_and_requeues_on_75() {
    let cfg = quickstart();
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("fake-sealtune");
    std::fs::write(
        &fake,
        "#!/bin/bash\nn=0\ntrap 'n=$((n+1)); echo term >> \"$LOG\"' TERM\nwhile [ $n -eq 0 ]; do sleep 0.05; done\nexit 75\n",
    )
    .unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("scontrol"),
        "#!/bin/bash\necho \"scontrol $*\" >> \"$LOG\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in [&fake, &bin.join("scontrol")] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = plan(
        &cfg,
        Target::Slurm,
        &Options {
            partition: Some("debug".into()),
            sealtune: Some(fake.display().to_string()),
            ..Default::default()
        },
    )
    .unwrap();
    let script = d.path().join("train.sbatch");
    std::fs::write(&script, file(&p, "train.sbatch")).unwrap();
    for (signal, requeued) in [("USR1", true), ("TERM", false)] {
        let log = d.path().join(format!("log-{signal}"));
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let mut child = std::process::Command::new("bash")
            .arg(&script)
            .env("LOG", &log)
            .env("PATH", path)
            .env("SLURM_JOB_ID", "42")
            .env("SLURM_RESTART_COUNT", "0")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        let ok = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        if signal == "TERM" {
            // Slurm signals every process of the job: sealtune too.
            std::process::Command::new("pkill")
                .args(["-TERM", "-P", &child.id().to_string()])
                .status()
                .unwrap();
        }
        let st = child.wait().unwrap();
        assert_eq!(st.code(), Some(75), "{signal}");
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(l.matches("term").count(), 1, "{signal}: one SIGTERM: {l}");
        assert_eq!(l.contains("scontrol requeue 42"), requeued, "{signal}: {l}");
    }
}

#[test]
fn kubernetes_jobs_have_the_failure_policy_and_only_their_secrets() {
    let cfg = quickstart();
    let p = plan(&cfg, Target::Kubernetes, &Options::default()).unwrap();
    let tokens: Vec<_> = p.placeholders.iter().map(|x| x.token.as_str()).collect();
    assert_eq!(
        tokens,
        [
            "FILL_IN_IMAGE",
            "FILL_IN_NAMESPACE",
            "FILL_IN_STORAGE_CLASS"
        ]
    );
    let pvc = parse(file(&p, "00-volume.yaml"));
    assert_eq!(pvc["kind"], "PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");
    let cm = parse(file(&p, "01-config.yaml"));
    assert_eq!(cm["kind"], "ConfigMap");
    let text = std::fs::read_to_string(cfg.path()).unwrap();
    assert_eq!(cm["data"]["quickstart.toml"], text.as_str());
    for (i, s) in STAGES.iter().enumerate() {
        let name = format!("{}-{}.yaml", (i + 1) * 10, s.name);
        let j = parse(file(&p, &name));
        assert_eq!(j["kind"], "Job");
        assert_eq!(j["metadata"]["name"], format!("quickstart-{}", s.name));
        let rules = j["spec"]["podFailurePolicy"]["rules"].as_array().unwrap();
        assert_eq!(rules[0]["action"], "FailJob");
        assert_eq!(
            rules[0]["onExitCodes"]["values"],
            json!([3, 64, 65, 66, 77, 78])
        );
        assert_eq!(rules[1]["action"], "Ignore");
        assert_eq!(rules[1]["onPodConditions"][0]["type"], "DisruptionTarget");
        assert_eq!(rules[2]["action"], "Count");
        assert_eq!(rules[2]["onExitCodes"]["values"], json!([75]));
        assert_eq!(j["spec"]["backoffLimit"], RETRY_BUDGET);
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let c = &pod["containers"][0];
        assert_eq!(
            c["command"],
            json!([
                "sealtune",
                "stage",
                s.name,
                "--config",
                "/sealtune/work/configs/quickstart.toml",
                "--run-dir",
                "/sealtune/work/runs/quickstart"
            ])
        );
        assert!(c["resources"]["limits"].get("nvidia.com/gpu").is_none());
        let secrets: Vec<_> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.get("secret"))
            .collect();
        for sv in &secrets {
            assert_eq!(sv["defaultMode"], 0o400);
        }
        let names: Vec<_> = secrets
            .iter()
            .map(|v| v["secretName"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = match s.name {
            "ingest" => vec![],
            "release" => vec![
                "quickstart-mask-key",
                "quickstart-signing-key",
                "quickstart-kek-0",
            ],
            // The quickstart seals weights at rest with the release's KEK.
            "train" | "eval" => vec!["quickstart-mask-key", "quickstart-kek-0"],
            _ => vec!["quickstart-mask-key"],
        };
        assert_eq!(names, want, "{}", s.name);
        let mounts: Vec<_> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap().to_string())
            .collect();
        if s.name == "release" {
            assert!(mounts.contains(&"/sealtune/work/keys/quickstart.key.pem".to_string()));
            assert!(mounts.contains(&"/sealtune/work/keys/quickstart.kek".to_string()));
        }
        assert!(mounts.contains(&"/sealtune/work/configs/quickstart.toml".to_string()));
    }
    let run = file(&p, "run.sh");
    let order: Vec<_> = STAGES
        .iter()
        .map(|s| {
            run.find(&format!("wait_job quickstart-{}", s.name))
                .unwrap()
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    // Paths of key files appear in the notes; no file's contents anywhere.
    assert!(p.notes.iter().any(|n| n.contains("quickstart-signing-key")));
    for f in &p.files {
        assert!(!f.text.contains("PRIVATE KEY"));
    }
}

#[test]
fn argo_workflow_is_a_dag_retrying_only_75() {
    let cfg = quickstart();
    let p = plan(
        &cfg,
        Target::Argo,
        &Options {
            image: Some("registry.example/sealtune:0.1".into()),
            namespace: Some("ml".into()),
            storage_class: Some("cephfs".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p.placeholders.is_empty());
    let wf = parse(file(&p, "workflow.yaml"));
    assert_eq!(wf["kind"], "Workflow");
    assert_eq!(wf["metadata"]["namespace"], "ml");
    let t = wf["spec"]["templates"].as_array().unwrap();
    assert_eq!(t[0]["name"], wf["spec"]["entrypoint"]);
    let tasks = t[0]["dag"]["tasks"].as_array().unwrap();
    let deps: Vec<_> = tasks
        .iter()
        .map(|x| (x["name"].clone(), x["dependencies"].clone()))
        .collect();
    assert_eq!(deps[0], (json!("ingest"), Value::Null));
    assert_eq!(deps[1], (json!("mask"), json!(["ingest"])));
    assert_eq!(deps[4], (json!("release"), json!(["eval"])));
    for (i, s) in STAGES.iter().enumerate() {
        let tpl = &t[i + 1];
        assert_eq!(tpl["name"], s.name);
        let r = &tpl["retryStrategy"];
        assert_eq!(r["limit"], "3");
        let e = r["expression"].as_str().unwrap();
        assert!(e.contains("asInt(lastRetry.exitCode) == 75"), "{e}");
        assert_eq!(tpl["container"]["image"], "registry.example/sealtune:0.1");
        let secrets: Vec<_> = tpl["volumes"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|x| x["secret"]["secretName"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            secrets.iter().any(|n| n.contains("signing")),
            s.name == "release"
        );
    }
    let pvc = parse(file(&p, "00-volume.yaml"));
    assert_eq!(pvc["spec"]["storageClassName"], "cephfs");
}

#[test]
fn cuda_asks_for_a_gpu_for_train_and_eval_only() {
    let cfg = quickstart();
    let s = plan_for_device(&cfg, Target::Slurm, &Options::default(), Device::Cuda).unwrap();
    for st in STAGES {
        let t = file(&s, &format!("{}.sbatch", st.name));
        assert_eq!(t.contains("--gres=gpu:1"), st.model, "{}", st.name);
    }
    let k = plan_for_device(&cfg, Target::Kubernetes, &Options::default(), Device::Cuda).unwrap();
    for (i, st) in STAGES.iter().enumerate() {
        let j = parse(file(&k, &format!("{}-{}.yaml", (i + 1) * 10, st.name)));
        let lim = &j["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
        assert_eq!(lim.get("nvidia.com/gpu").is_some(), st.model);
    }
    assert_eq!(configured_device(&cfg), Device::Cpu);
    let mut gpu = cfg.clone();
    for (d, want) in [
        ("cuda", Device::Cuda),
        ("cuda:1", Device::Cuda),
        ("auto", Device::Cpu),
        ("libtorch-cpu", Device::Cpu),
    ] {
        gpu.override_value("compute", "device", d, "--device")
            .unwrap();
        assert_eq!(configured_device(&gpu), want, "{d}");
    }
    gpu.override_value("compute", "device", "cuda", "--device")
        .unwrap();
    let s = plan(&gpu, Target::Slurm, &Options::default()).unwrap();
    assert!(file(&s, "train.sbatch").contains("--gres=gpu:1"));
    assert!(!file(&s, "mask.sbatch").contains("--gres=gpu:1"));
}

#[test]
fn secrets_come_from_the_config_keys_and_are_never_read() {
    let d = tempfile::tempdir().unwrap();
    let cfgp = d.path().join("c.toml");
    std::fs::write(
        &cfgp,
        "[data]\ninputs=[\"d/*.jsonl\"]\nformat=\"chat\"\n[mask]\nkey_env=\"MASK_KEY\"\n[model]\npath=\"/models/m\"\n[release]\nsigning_key_file=\"/nonexistent/sign.pem\"\nrecipients=[{kek_file=\"k/a.kek\"},{passphrase_env=\"PASS\"}]\n",
    )
    .unwrap();
    let sections: Vec<&str> = sealtune_pipeline::config::ALL_SECTIONS[1..].to_vec();
    let cfg = Config::load(&cfgp, &sections).unwrap();
    let s = secrets(&cfg);
    let keys: Vec<_> = s.files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        ["release.signing_key_file", "release.recipients[0].kek_file"]
    );
    assert!(s.files.iter().all(|f| f.release_only));
    let envs: Vec<_> = s.envs.iter().map(|e| e.var.as_str()).collect();
    assert_eq!(envs, ["MASK_KEY", "PASS"]);
    // Files that do not exist are fine: nothing is read.
    let p = plan(&cfg, Target::Kubernetes, &Options::default()).unwrap();
    let j = parse(file(&p, "20-mask.yaml"));
    let env = &j["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["name"], "MASK_KEY");
    assert_eq!(env[0]["valueFrom"]["secretKeyRef"]["name"], "c-mask-key");
    assert!(env.as_array().unwrap().len() == 1, "PASS is release's only");
    let r = parse(file(&p, "50-release.yaml"));
    let mounts = r["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].clone();
    let paths: Vec<_> = mounts
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/nonexistent/sign.pem"));
    assert!(paths.contains(&"/sealtune/work/k/a.kek"));
    // No `..` in the config: the config directory is the volume's root.
    assert!(paths.contains(&"/sealtune/work/c.toml"));
    let _ = KEY_NAMES;
}

/// The mount paths of one Kubernetes job's container.
fn mount_paths(p: &Plan, name: &str) -> Vec<String> {
    let j = parse(file(p, name));
    j["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn weights_sealed_at_rest_give_train_and_eval_their_keys() {
    let d = tempfile::tempdir().unwrap();
    let cfgp = d.path().join("c.toml");
    let base = "[data]\ninputs=[\"d/*.jsonl\"]\nformat=\"chat\"\n[mask]\nkey_file=\"k/mask.key\"\n[model]\npath=\"/models/m\"\n[release]\nsigning_key_file=\"k/sign.pem\"\nrecipients=[{kek_file=\"k/a.kek\"}]\n";
    let sections: Vec<&str> = sealtune_pipeline::config::ALL_SECTIONS[1..].to_vec();
    let load = |train: &str| {
        std::fs::write(&cfgp, format!("{base}[train]\n{train}")).unwrap();
        let cfg = Config::load(&cfgp, &sections).unwrap();
        plan(&cfg, Target::Kubernetes, &Options::default()).unwrap()
    };
    let kek = "/sealtune/work/k/a.kek".to_owned();
    let own = "/sealtune/work/k/rest.kek".to_owned();

    // Off: only release holds the KEK.
    let p = load("");
    assert!(!mount_paths(&p, "30-train.yaml").contains(&kek));
    assert!(mount_paths(&p, "50-release.yaml").contains(&kek));

    // On, with the release's keys: train and eval hold the KEK, never the signing key.
    let p = load("seal_at_rest = true\n");
    for job in ["30-train.yaml", "40-eval.yaml", "50-release.yaml"] {
        assert!(mount_paths(&p, job).contains(&kek), "{job}");
    }
    for job in ["10-ingest.yaml", "20-mask.yaml"] {
        assert!(!mount_paths(&p, job).contains(&kek), "{job}");
    }
    let sign = "/sealtune/work/k/sign.pem".to_owned();
    assert!(!mount_paths(&p, "30-train.yaml").contains(&sign));

    // On, with its own keys: those go to train, eval and release; the release's KEK
    // stays with release alone.
    let p = load("seal_at_rest = true\nat_rest_recipients = [{kek_file=\"k/rest.kek\"}]\n");
    for job in ["30-train.yaml", "40-eval.yaml", "50-release.yaml"] {
        assert!(mount_paths(&p, job).contains(&own), "{job}");
    }
    assert!(!mount_paths(&p, "30-train.yaml").contains(&kek));
    assert!(!mount_paths(&p, "20-mask.yaml").contains(&own));
    let cfg = Config::load(&cfgp, &sections).unwrap();
    let s = secrets(&cfg);
    let f = s
        .files
        .iter()
        .find(|f| f.key == "train.at_rest_recipients[0].kek_file")
        .unwrap();
    assert_eq!(f.secret_name, "c-at-rest-kek-0");
}
