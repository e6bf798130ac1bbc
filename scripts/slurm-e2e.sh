#!/usr/bin/env bash
# A one-node Slurm cluster on localhost from Debian's packages (slurmctld,
# slurmd, munge; started directly, no systemd), and `sealtune plan --emit
# slurm` submitted to it. Must run as root on a Debian/Ubuntu machine or
# container. What it checks:
#   1. the five stage jobs are chained with afterok: ingest and mask complete;
#   2. a stage that finds the run directory locked exits 75, its script
#      requeues the job, and the requeued job completes once the lock is free;
#   3. a stage that fails permanently (train without a model: 66) ends the
#      chain: eval and release are cancelled, never run;
#   4. the stage script's signals on real Slurm (with a stand-in for sealtune):
#      the USR1 time-limit warning becomes one SIGTERM, 75 and a requeue;
#      `scontrol requeue` (as pre-emption) requeues; `scancel` stays cancelled.
# Usage: sudo bash scripts/slurm-e2e.sh [SEALTUNE_BINARY]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
sealtune="${1:-${SEALTUNE:-}}"
if [ -z "$sealtune" ]; then
    (cd "$root" && cargo build --quiet -p sealtune-cli)
    sealtune="${CARGO_TARGET_DIR:-$root/target}/debug/sealtune"
fi
sealtune="$(readlink -f "$sealtune")"
[ "$(id -u)" -eq 0 ] || { echo "run as root (it installs and starts slurmctld, slurmd, munged)" >&2; exit 64; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
fi

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

# A small project: synthetic chats, keys, a config whose model does not exist.
proj="$work/proj"
mkdir -p "$proj/data"
for i in $(seq 0 39); do
    printf '{"messages":[{"role":"user","content":"Question %d from Maria Lopez"},{"role":"assistant","content":"Answer %d: call 555-0100."}]}\n' "$i" "$i"
done > "$proj/data/chat.jsonl"
"$sealtune" keygen --out "$proj/keys" --name t >/dev/null
head -c 32 /dev/urandom > "$proj/keys/mask.key"
chmod 600 "$proj/keys/mask.key"
cat > "$proj/cfg.toml" <<'TOML'
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
path = "no-such-model"

[release]
signing_key_file = "keys/t.key.pem"
recipients = [{ kek_file = "keys/t.kek" }]
TOML

plan="$work/plan"
"$sealtune" plan "$proj/cfg.toml" --emit slurm --out "$plan" --partition debug --sealtune "$sealtune"
# The defaults (8 CPUs, 32G for train) do not fit this machine.
sed -i -e "s/^#SBATCH --cpus-per-task=.*/#SBATCH --cpus-per-task=1/" -e "s/^#SBATCH --mem=.*/#SBATCH --mem=256M/" "$plan"/*.sbatch

# Hold the run lock, as another node's job would, while ingest starts.
mkdir -p "$proj/run"
exec {lockfd}>>"$proj/run/run.lock"
flock -n "$lockfd"
SEALTUNE_MAX_REQUEUES=5 bash "$plan/submit.sh" | tee "$work/jobs.txt"
declare -A job
while read -r s _ id; do job[${s%:}]=$id; done < "$work/jobs.txt"

state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
restarts() { scontrol show job "$1" 2>/dev/null | grep -o 'Restarts=[0-9]*' | cut -d= -f2; }
wait_for() { # JOB STATE... ; up to 240 s
    local j=$1; shift
    for _ in $(seq 240); do
        local st; st="$(state "$j")"
        for want in "$@"; do [ "$st" = "$want" ] && return 0; done
        sleep 1
    done
    echo "job $j: state $(state "$j"), wanted $*" >&2
    scontrol show job "$j" >&2 || true
    cat "$plan"/*.out >&2 || true
    return 1
}

# 2. The locked ingest job exits 75 and requeues itself.
for _ in $(seq 120); do [ "${r:-0}" -ge 1 ] && break; r="$(restarts "${job[ingest]}")"; sleep 1; done
echo "ingest restarts while locked: $(restarts "${job[ingest]}")"
[ "$(restarts "${job[ingest]}")" -ge 1 ] || { echo "FAIL: the locked ingest job was not requeued" >&2; cat "$plan"/*.out >&2; exit 1; }
grep -q "locked by" "$plan"/e2e-ingest-*.out
exec {lockfd}>&-
# Requeued jobs wait a little before they are eligible again.
wait_for "${job[ingest]}" COMPLETED
echo "ok: ingest requeued on 75 and completed once the lock was free"

# 1. mask runs after ingest and completes.
wait_for "${job[mask]}" COMPLETED
echo "ok: mask completed after ingest (afterok)"

# 3. train fails permanently (no model: 66); eval and release never run.
wait_for "${job[train]}" FAILED
scontrol show job "${job[train]}" | grep -q 'ExitCode=66:0'
for s in eval release; do
    wait_for "${job[$s]}" CANCELLED FAILED
done
[ "$(restarts "${job[train]}")" = 0 ] || { echo "FAIL: train was requeued after 66" >&2; exit 1; }
[ ! -e "$proj/run/release" ]
echo "ok: train failed with 66, not requeued; eval and release cancelled"
"$sealtune" status --run-dir "$proj/run" || true

# 4. The stage script's signal handling, on real Slurm, with a stand-in for
# sealtune that behaves as it does: on SIGTERM it "checkpoints" and exits 75;
# in a requeued job (SLURM_RESTART_COUNT > 0) it finishes at once.
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
started() { for _ in $(seq 60); do grep -q '^start' "$work/fake.$1" 2>/dev/null && return 0; sleep 1; done; return 1; }
#   a. the time-limit warning (USR1 to the batch shell): one SIGTERM, 75, requeued, completes
j=$(submit_fake); started "$j"
scancel --signal=USR1 --batch "$j"
wait_for "$j" COMPLETED
[ "$(grep -c '^term' "$work/fake.$j")" = 1 ] && [ "$(restarts "$j")" = 1 ]
echo "ok: USR1 warning -> one SIGTERM -> 75 -> requeued -> completed"
#   b. pre-emption by requeue: SIGTERM to the job, Slurm requeues, completes
j=$(submit_fake); started "$j"
scontrol requeue "$j"
wait_for "$j" COMPLETED
[ "$(restarts "$j")" = 1 ] && grep -q '^term' "$work/fake.$j"
echo "ok: scontrol requeue (pre-emption) -> SIGTERM -> requeued by Slurm -> completed"
#   c. scancel: SIGTERM, 75, and the job stays cancelled
j=$(submit_fake); started "$j"
scancel "$j"
wait_for "$j" CANCELLED
sleep 3
[ "$(state "$j")" = CANCELLED ] && [ "$(restarts "$j")" = 0 ]
echo "ok: scancel -> cancelled, not requeued"
echo "slurm e2e: all checks passed"
