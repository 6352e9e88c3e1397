#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing the SLURM profile (tests/test_slurm.py).
#
#   bash scripts/slurm-localhost.sh start    # install if missing, configure, start, wait until idle
#   bash scripts/slurm-localhost.sh stop     # cancel jobs, stop the daemons by PID
#   bash scripts/slurm-localhost.sh status   # exit 0 when the node answers, 1 otherwise
#
# Needs root and Debian (apt-get). Installs Debian's munge, slurmctld, slurmd and slurm-client
# (8 packages, no slurmdbd: accounting is off, so the profile must poll with squeue), writes
# /etc/slurm/slurm.conf for one node "localhost" with the machine's CPUs and memory and
# $FAKE_GPUS fake GRES GPUs (gpu:fake:N, character devices with /dev/null's numbers: SLURM
# schedules and sets CUDA_VISIBLE_DEVICES, nothing CUDA runs), then starts munged, slurmctld and
# slurmd as plain daemons (no systemd needed). It refuses to overwrite a slurm.conf it did not write.
# Every command runs under `timeout -k`; a failure exits non-zero with the reason, never hangs.
#
# Environment: SLURM_CI_DIR (state, spool, logs, PID files; default /tmp/slurm-ci),
# FAKE_GPUS (default 2; 0 = no GRES), SLURM_CI_WAIT (seconds to wait for the node; default 60).
set -euo pipefail

ACTION=${1:-}
DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
FAKE_GPUS=${FAKE_GPUS:-2}
WAIT=${SLURM_CI_WAIT:-60}
CONF=/etc/slurm/slurm.conf
GRES=/etc/slurm/gres.conf
MARK="# written by scripts/slurm-localhost.sh"
MUNGE_PID=/run/munge/munged.pid
CTLD_PID=$DIR/slurmctld.pid
SLURMD_PID=$DIR/slurmd.pid

die() { echo "slurm-localhost: $*" >&2; exit 1; }
log() { echo "slurm-localhost: $*" >&2; }
t() { timeout -k 5 "$@"; }   # t SECONDS cmd...: bounded, and killed if it ignores SIGTERM

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for bin in munged slurmctld slurmd sbatch squeue sinfo; do
        command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them (Debian only)"
    log "installing munge slurmctld slurmd slurm-client (missing: ${missing[*]})"
    t 180 apt-get update -qq || die "apt-get update failed or timed out"
    # wait up to 2 min for a concurrent apt/dpkg to release its lock, rather than failing at once
    DEBIAN_FRONTEND=noninteractive t 600 apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends \
        munge slurmctld slurmd slurm-client >/dev/null || die "apt-get install failed or timed out"
}

write_config() {
    mkdir -p /etc/slurm "$DIR/state" "$DIR/spool" "$DIR/log"
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to overwrite it"
    fi
    # the hardware part of `slurmd -C` (CPUs, sockets, cores, threads, RealMemory)
    local hw
    hw=$(t 30 /usr/sbin/slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //') \
        || die "slurmd -C failed"
    [ -n "$hw" ] || die "slurmd -C printed nothing"
    local gres_node="" gres_types=""
    if [ "$FAKE_GPUS" -gt 0 ]; then
        gres_types="GresTypes=gpu"
        gres_node="Gres=gpu:fake:$FAKE_GPUS"
        local i
        for ((i = 0; i < FAKE_GPUS; i++)); do
            [ -c "$DIR/fakegpu$i" ] || mknod "$DIR/fakegpu$i" c 1 3 \
                || die "mknod $DIR/fakegpu$i failed (fake GPUs must be character devices)"
        done
        cat >"$GRES" <<EOF
$MARK
NodeName=localhost Name=gpu Type=fake File=$DIR/fakegpu[0-$((FAKE_GPUS - 1))] Flags=nvidia_gpu_env
EOF
    else
        rm -f "$GRES"
    fi
    cat >"$CONF" <<EOF
$MARK
# One node, no accounting (no slurmdbd): sacct does not work, poll with squeue.
ClusterName=ci
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue and scontrol for an hour (tests read them; the SLURM
# plugin needs >= 3x its init delay)
MinJobAge=3600
$gres_types
NodeName=localhost NodeAddr=127.0.0.1 $hw $gres_node State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { t 10 sinfo -h -n localhost -o %T 2>/dev/null | head -1; }

start() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (daemons, /etc/slurm, apt-get)"
    install_packages
    write_config
    if alive "$MUNGE_PID"; then
        log "munged already running (pid $(cat "$MUNGE_PID"))"
    else
        mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
        t 20 runuser -u munge -- /usr/sbin/munged || die "munged did not start"
    fi
    t 10 bash -c 'munge -n | unmunge >/dev/null' || die "munge round trip failed (munged not answering)"
    if alive "$CTLD_PID"; then
        log "slurmctld already running (pid $(cat "$CTLD_PID")); the config above applies from its next start"
    else
        t 30 /usr/sbin/slurmctld || die "slurmctld did not start; see $DIR/log/slurmctld.log"
    fi
    if alive "$SLURMD_PID"; then
        log "slurmd already running (pid $(cat "$SLURMD_PID"))"
    else
        # -N: the node is "localhost" whatever the hostname is
        t 30 /usr/sbin/slurmd -N localhost || die "slurmd did not start; see $DIR/log/slurmd.log"
    fi
    local deadline=$((SECONDS + WAIT)) state=""
    while ((SECONDS < deadline)); do
        state=$(node_state || true)
        case "$state" in idle | mixed | allocated) break ;; esac
        sleep 0.5
    done
    case "$state" in
        idle | mixed | allocated) ;;
        *) die "node not idle after ${WAIT}s (state '${state:-none}'); see $DIR/log/slurmctld.log and slurmd.log" ;;
    esac
    # smoke test: a job step really runs on the node
    local out
    out=$(t 60 srun -t 1 -n 1 echo slurm-ok 2>&1) || die "srun smoke test failed: $out"
    [[ $out == *slurm-ok* ]] || die "srun smoke test printed: $out"
    log "up: node localhost $state, $(t 10 sinfo -h -n localhost -o '%c CPUs, %m MB, gres %G')"
}

stop_pid() {   # stop_pid NAME PIDFILE: SIGTERM, wait up to 15 s, then SIGKILL
    local name=$1 file=$2 pid
    alive "$file" || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }; sleep 0.5; done
    log "$name (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

stop() {
    [ "$(id -u)" -eq 0 ] || die "must run as root"
    if alive "$CTLD_PID"; then t 20 scancel --user=root 2>/dev/null || true; fi
    stop_pid slurmd "$SLURMD_PID"
    stop_pid slurmctld "$CTLD_PID"
    stop_pid munged "$MUNGE_PID"
    log "stopped (logs kept in $DIR/log)"
}

status() {
    alive "$CTLD_PID" && alive "$SLURMD_PID" || { echo "down"; return 1; }
    echo "up: $(node_state)"
}

case "$ACTION" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
