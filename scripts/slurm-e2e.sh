#!/usr/bin/env bash
# A one-node Slurm cluster on localhost from Debian's packages (slurmctld,
# slurmd, munge; started directly, no systemd), and the real pipeline submitted
# to it as `sealtune plan --emit slurm` writes it, on a tiny random model with
# SmolLM2's tokenizer (scripts/make-tiny-model.py). What it checks:
#   1. the five stage jobs are chained with afterok and the release verifies;
#   2. a stage that finds the run directory locked (as by a job on another
#      node) exits 75, its script requeues the job, and it completes once the
#      lock is free;
#   3. the train job pre-empted mid-run (`scontrol requeue`: SIGTERM, what
#      Slurm's PreemptMode=REQUEUE does) writes a checkpoint, exits 75, is
#      requeued, resumes from the checkpoint, and ends with the same adapter
#      bytes as an uninterrupted run outside Slurm; weights stay sealed at rest
#      (`[train] seal_at_rest`) throughout;
#   4. a failed eval gate ends the chain with 3: eval is not retried, release is
#      cancelled, nothing is released;
#   5. the stage script's own signal path with a stand-in for sealtune: the
#      USR1 time-limit warning becomes one SIGTERM, 75 and a requeue; `scancel`
#      stays cancelled.
# Requeued jobs become eligible at once (`scontrol update StartTime=now`)
# instead of after Slurm's requeue delay, to keep the test short.
# Usage: sudo bash scripts/slurm-e2e.sh [SEALTUNE_BINARY]
# Needs models/smollm2-135m-instruct (scripts/fetch-smollm2.sh) for its tokenizer.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
sealtune="${1:-${SEALTUNE:-}}"
if [ -z "$sealtune" ]; then
    (cd "$root" && cargo build --quiet -p sealtune-cli)
    sealtune="${CARGO_TARGET_DIR:-$root/target}/debug/sealtune"
fi
sealtune="$(readlink -f "$sealtune")"
[ "$(id -u)" -eq 0 ] || { echo "run as root (it installs and starts slurmctld, slurmd, munged)" >&2; exit 64; }

tokenizer_src="$root/models/smollm2-135m-instruct"
[ -f "$tokenizer_src/tokenizer.json" ] || { echo "$tokenizer_src: missing; run scripts/fetch-smollm2.sh" >&2; exit 66; }
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    pkgs=(slurmctld slurmd slurm-client munge)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; }
fi
t0=$SECONDS

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
work="$(mktemp -d /tmp/sealtune-slurm-e2e.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# munge: a key, then the daemon.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- munged
fi
for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done
munge -n | unmunge >/dev/null

# slurm.conf for one node, no cgroups, no accounting.
mkdir -p /etc/slurm "$work/spool/ctld" "$work/spool/d" "$work/log"
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=sealtune-e2e
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobRequeue=1
ReturnToService=2
MpiDefault=none
KillWait=30
InactiveLimit=0
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -c > "$work/log/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D > "$work/log/slurmd.out" 2>&1 & pids+=($!)
for _ in $(seq 60); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed)' && break
    sleep 1
done
sinfo
sinfo -h -o '%T' | grep -qE '^(idle|mixed)' || { echo "slurmd did not come up"; cat "$work"/log/*; exit 1; }

# Two projects on the tiny model: A passes its gates (accepted with reasons, as
# the quickstart does) and trains long enough to be pre-empted; B does not
# accept its failing gates.
project() { # DIR MAX_STEPS CHECKPOINT_EVERY ACCEPT
    local d=$1
    mkdir -p "$d/data"
    for i in $(seq 0 39); do
        printf '{"messages":[{"role":"user","content":"Who is member %d?"},{"role":"assistant","content":"Member %d is Maria Lopez, SSN 912-34-%04d."}]}\n' "$i" "$i" "$((1000 + i))"
    done > "$d/data/chat.jsonl"
    python3 "$root/scripts/make-tiny-model.py" "$tokenizer_src" "$d/model"
    "$sealtune" keygen --out "$d/keys" --name t >/dev/null
    head -c 32 /dev/urandom > "$d/keys/mask.key"
    chmod 600 "$d/keys/mask.key"
    cat > "$d/cfg.toml" <<TOML
[run]
id = "e2e"
dir = "run"

[data]
inputs = ["data/*.jsonl"]
format = "chat"
eval_fraction = 0.25

[mask]
key_file = "keys/mask.key"

[model]
path = "model"

[train]
max_seq_len = 128
max_steps = $2
checkpoint_every = $3
seal_at_rest = true

[train.lora]
rank = 4
alpha = 8

[train.canaries]
count = 2
repeats = 2

[eval]
references = 8
mia_samples = 4
memorization_samples = 2
pii_prompted = 2
pii_unconditioned = 1
pii_max_new_tokens = 8
suffix_tokens = 32
bootstrap = 20
bias_templates = 1
bias_names = 1
TOML
    if [ "$4" = accept ]; then
        cat >> "$d/cfg.toml" <<'TOML'

[eval.accept]
pii_regurgitation = "test: tiny samples"
canary_extraction = "test: tiny samples"
canary_exposure = "test: tiny samples"
mia_auc = "test: tiny samples"
decision_gap = "test: random model"
disparate_impact = "test: random model"
TOML
    fi
    cat >> "$d/cfg.toml" <<'TOML'

[release]
signing_key_file = "keys/t.key.pem"
recipients = [{ kek_file = "keys/t.kek" }]
TOML
}
a="$work/a"; b="$work/b"
project "$a" 400 5 accept
project "$b" 6 0 no

# The reference: A's training, uninterrupted, outside Slurm.
cp -a "$a" "$work/a-ref"
"$sealtune" run "$work/a-ref/cfg.toml" --to train --quiet
adapter_sha() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adapter"]["files"][0]["sha256"])' "$1/run/train/training.json"; }
want="$(adapter_sha "$work/a-ref")"
echo "reference adapter (uninterrupted, outside Slurm): $want"

plan_for() { # PROJECT -> plan directory
    "$sealtune" plan "$1/cfg.toml" --emit slurm --out "$1/plan" --partition debug --sealtune "$sealtune" 2>/dev/null
    # The defaults (8 CPUs, 32G for train) do not fit this machine.
    sed -i -e "s/^#SBATCH --cpus-per-task=.*/#SBATCH --cpus-per-task=1/" -e "s/^#SBATCH --mem=.*/#SBATCH --mem=1G/" "$1"/plan/*.sbatch
}
plan_for "$a"; plan_for "$b"

state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
restarts() { scontrol show job "$1" 2>/dev/null | grep -o 'Restarts=[0-9]*' | cut -d= -f2; }
exit_code() { scontrol show job "$1" 2>/dev/null | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2; }
logs() { # every stage log, and the daemons' logs, so that a failure says why
    local f
    for f in "$a"/plan/*.out "$b"/plan/*.out "$work"/log/*; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 60 "$f"; }
    done
    return 0
}
fail() { echo "FAIL: $*" >&2; logs >&2; exit 1; }
# A requeued job is held back by Slurm's requeue delay; make it eligible now.
eligible_now() { scontrol update JobId="$1" StartTime=now 2>/dev/null || true; }
wait_for() { # JOB STATE... ; up to 300 s
    local j=$1; shift
    for _ in $(seq 600); do
        local st; st="$(state "$j")"
        for want_st in "$@"; do [ "$st" = "$want_st" ] && return 0; done
        [ "$st" = PENDING ] && [ "$(restarts "$j")" != 0 ] && eligible_now "$j"
        sleep 0.5
    done
    scontrol show job "$j" >&2 || true
    fail "job $j: state $(state "$j") (exit $(exit_code "$j"), restarts $(restarts "$j")), wanted $*"
}
submit() { # PROJECT -> "stage: job id" lines in PROJECT/jobs.txt
    SEALTUNE_MAX_REQUEUES=5 bash "$1/plan/submit.sh" > "$1/jobs.txt"
    cat "$1/jobs.txt"
}

# Hold A's run lock, as another node's job would, while its ingest starts.
mkdir -p "$a/run"
exec {lockfd}>>"$a/run/run.lock"
flock -n "$lockfd"
submit "$a"
submit "$b"
declare -A ja jb
while read -r s _ id; do ja[${s%:}]=$id; done < "$a/jobs.txt"
while read -r s _ id; do jb[${s%:}]=$id; done < "$b/jobs.txt"

# 2. The locked ingest job exits 75 and requeues itself.
for _ in $(seq 240); do [ "$(restarts "${ja[ingest]}")" -ge 1 ] && break; sleep 0.5; done
[ "$(restarts "${ja[ingest]}")" -ge 1 ] || fail "the locked ingest job was not requeued"
grep -q "locked by" "$a"/plan/e2e-ingest-*.out || fail "the ingest log does not name the lock holder"
exec {lockfd}>&-
wait_for "${ja[ingest]}" COMPLETED
echo "ok: ingest found the run locked, exited 75, requeued, completed once the lock was free"
wait_for "${ja[mask]}" COMPLETED
echo "ok: mask ran after ingest (afterok)"

# 3. Pre-empt train once its first checkpoint is written.
ckpts="$a/run/.work/train/checkpoints"
for _ in $(seq 600); do
    compgen -G "$ckpts/step-*" >/dev/null && break
    sleep 0.2
done
compgen -G "$ckpts/step-*" >/dev/null || fail "train wrote no checkpoint"
[ "$(state "${ja[train]}")" = RUNNING ] || fail "train finished before it could be pre-empted"
scontrol requeue "${ja[train]}"
wait_for "${ja[train]}" COMPLETED
[ "$(restarts "${ja[train]}")" = 1 ] || fail "train restarts $(restarts "${ja[train]}"), expected 1"
grep -q "exited 75" "$a"/plan/e2e-train-*.out || fail "the pre-empted train did not exit 75"
grep -q "resuming from the checkpoint at step" "$a"/plan/e2e-train-*.out || fail "train did not resume from its checkpoint"
got="$(adapter_sha "$a")"
[ "$got" = "$want" ] || fail "adapter after pre-emption $got, uninterrupted $want"
echo "ok: train pre-empted (scontrol requeue) -> 75 -> requeued -> resumed -> the same adapter bytes"

wait_for "${ja[eval]}" COMPLETED
wait_for "${ja[release]}" COMPLETED
"$sealtune" verify "$a/run/release" --public-key "$a/keys/t.pub.pem" --kek "$a/keys/t.kek"
echo "ok: eval and release completed; the release verifies"
# No weight file in clear anywhere under the run directory.
python3 - "$a/run" <<'PY'
import json, os, struct, sys
clear = []
for top, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(top, f)
        with open(p, "rb") as fh:
            b = fh.read()
        if len(b) >= 8:
            n = struct.unpack("<Q", b[:8])[0]
            if n + 8 <= len(b):
                try:
                    json.loads(b[8 : 8 + n])
                    clear.append(p)
                except ValueError:
                    pass
if clear:
    sys.exit("clear weight files: " + ", ".join(clear))
PY
echo "ok: no file under the run directory parses as safetensors (seal_at_rest)"

# 4. B's eval fails its gates: exit 3, no retry, release cancelled.
wait_for "${jb[eval]}" FAILED
[ "$(exit_code "${jb[eval]}")" = "3:0" ] || fail "B's eval ended with $(exit_code "${jb[eval]}"), expected 3:0"
[ "$(restarts "${jb[eval]}")" = 0 ] || fail "B's eval was retried after a failed gate"
wait_for "${jb[release]}" CANCELLED FAILED
[ ! -e "$b/run/release" ] || fail "B released despite a failed gate"
echo "ok: a failed gate ended the chain with 3, not retried; release cancelled, nothing released"

# 5. The stage script's signal handling, with a stand-in for sealtune that
# behaves as it does: on SIGTERM it "checkpoints" and exits 75; in a requeued
# job (SLURM_RESTART_COUNT > 0) it finishes at once.
plan="$a/plan"
fake="$work/fake-sealtune"
cat > "$fake" <<'FAKE'
#!/bin/bash
log="$FAKE_LOG.${SLURM_JOB_ID}"
echo "start restart=${SLURM_RESTART_COUNT:-0}" >> "$log"
[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && exit 0
trap 'echo term >> "$log"; exit 75' TERM
while :; do sleep 0.2; done
FAKE
chmod 755 "$fake"
submit_fake() { (cd "$plan" && SEALTUNE="$fake" FAKE_LOG="$work/fake" sbatch --parsable train.sbatch | cut -d';' -f1); }
started() { for _ in $(seq 120); do grep -q '^start' "$work/fake.$1" 2>/dev/null && return 0; sleep 0.5; done; return 1; }
#   a. the time-limit warning (USR1 to the batch shell): one SIGTERM, 75, requeued, completes
j=$(submit_fake); started "$j"
scancel --signal=USR1 --batch "$j"
wait_for "$j" COMPLETED
[ "$(grep -c '^term' "$work/fake.$j")" = 1 ] && [ "$(restarts "$j")" = 1 ] || fail "USR1 warning: $(cat "$work/fake.$j")"
echo "ok: USR1 warning -> one SIGTERM -> 75 -> requeued -> completed"
#   b. scancel: SIGTERM, 75, and the job stays cancelled
j=$(submit_fake); started "$j"
scancel "$j"
wait_for "$j" CANCELLED
sleep 3
[ "$(state "$j")" = CANCELLED ] && [ "$(restarts "$j")" = 0 ] || fail "scancel: state $(state "$j"), restarts $(restarts "$j")"
echo "ok: scancel -> cancelled, not requeued"
echo "slurm e2e: all checks passed in $((SECONDS - t0)) s"
