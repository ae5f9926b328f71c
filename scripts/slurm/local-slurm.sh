#!/usr/bin/env bash
# local-slurm.sh -- a throw-away Slurm on this machine (one node, one partition) for
# scripts/slurm/test_slurm.sh. Needs root; meant for Debian 12 (slurm-wlm 22.05, munge 0.5.15).
#
#   local-slurm.sh start [DIR]  apt-get install slurm-wlm and munge if their programs are missing;
#                               run munged, slurmctld and slurmd in the background with their key,
#                               socket, config, state, logs and PIDs all in DIR; return once the
#                               node is idle, printing `export SLURM_CONF=DIR/slurm.conf`
#   local-slurm.sh stop [DIR]   scancel the jobs of that cluster, then end its daemons by the PIDs
#                               recorded in DIR/pid (SIGTERM, SIGKILL after 20 s)
#   local-slurm.sh env [DIR]    print the export line of a running cluster again
#
# DIR defaults to /tmp/nnmf-slurm; start refuses a non-empty DIR it did not make. Only shell code
# goes to stdout, every message to stderr, so a script can do
#   env_sh=$(scripts/slurm/local-slurm.sh start /tmp/nnmf-slurm)   # a failed start stops the script
#   eval "$env_sh"
#   trap 'scripts/slurm/local-slurm.sh stop /tmp/nnmf-slurm' EXIT
# Ports: slurmctld listens on NNMF_SLURM_PORT and slurmd on the port after it; without
# NNMF_SLURM_PORT the first free pair of 6817/6818, 6819/6820, ... 6835/6836 is taken.
# No systemd, no cgroups (proctrack/linuxproc), nothing written under /etc or /run.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

say() { echo "local-slurm: $*" >&2; }
fail() { say "error: $*"; exit 1; }

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
cmd=$1
dir=${2:-/tmp/nnmf-slurm}
[[ $dir == /* ]] || dir=$PWD/$dir
dir=${dir%/}
case $dir in '' | / | /tmp | /root | /home | /usr | /var | /etc) fail "'$dir' cannot be the state directory" ;; esac

conf=$dir/slurm.conf
sock=$dir/munge/socket   # a Unix socket path: at most 107 bytes
envfile=$dir/env.sh
mark=$dir/.made-by-local-slurm

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# daemon_pid NAME: the recorded PID of daemon NAME if that process still runs and its command
# line names this cluster's directory (a reused PID is not taken for ours).
daemon_pid() {
    local pid
    pid=$(cat "$dir/pid/$1" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 0
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/"; then echo "$pid"; fi
}

# launch NAME COMMAND...: run a daemon in the foreground of its own session, in the background
# of this script, output to DIR/log/NAME.out, and record its PID.
launch() {
    local name=$1
    shift
    SLURM_CONF=$conf setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
    echo $! >"$dir/pid/$name"
}

# retry SECONDS COMMAND...: run COMMAND every half second until it succeeds (1 after SECONDS).
retry() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || return 1
        sleep 0.5
    done
}

no_jobs() { [[ -z $(timeout 5 squeue -h -o %A) ]]; }
munge_answers() { munge -n -S "$sock" | unmunge -S "$sock"; }

# listening PORT: something accepts TCP connections on PORT.
listening() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

show_logs() {
    local f
    for f in "$dir"/log/*; do
        [[ -s $f ]] || continue
        say "--- the end of $f:"
        tail -n 15 "$f" >&2
    done
}

install_slurm() {
    local prog missing=()
    for prog in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
        command -v "$prog" >/dev/null || missing+=("$prog")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    command -v apt-get >/dev/null || fail "${missing[*]} not found and no apt-get to install slurm-wlm and munge"
    say "installing slurm-wlm and munge with apt-get (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
    if ! apt-cache show slurm-wlm munge >/dev/null 2>&1; then
        say "the package lists do not know slurm-wlm or munge: apt-get update first"
        "${apt[@]}" update >&2 || fail "apt-get update failed"
    fi
    # --no-install-recommends: slurmctld, slurmd, slurm-client, munge and their libraries only.
    # Package scripts may start a system munged (not used here) where no policy-rc.d forbids it.
    if ! "${apt[@]}" install -y --no-install-recommends slurm-wlm munge >&2; then
        say "apt-get install failed; updating the package lists and trying once more"
        "${apt[@]}" update >&2 || fail "apt-get update failed"
        "${apt[@]}" install -y --no-install-recommends slurm-wlm munge >&2 || fail "apt-get install slurm-wlm munge failed"
    fi
    for prog in "${missing[@]}"; do
        command -v "$prog" >/dev/null || fail "$prog is still missing after installing slurm-wlm and munge"
    done
}

pick_ports() {
    local p
    if [[ -n ${NNMF_SLURM_PORT:-} ]]; then
        [[ $NNMF_SLURM_PORT =~ ^[0-9]+$ ]] || fail "NNMF_SLURM_PORT must be a port number"
        for p in "$NNMF_SLURM_PORT" $((NNMF_SLURM_PORT + 1)); do
            ! listening "$p" || fail "port $p is in use (NNMF_SLURM_PORT=$NNMF_SLURM_PORT): choose another NNMF_SLURM_PORT"
        done
        ctld_port=$NNMF_SLURM_PORT
    else
        for ((p = 6817; p <= 6835; p += 2)); do
            if ! listening "$p" && ! listening $((p + 1)); then ctld_port=$p; break; fi
        done
        [[ -n ${ctld_port:-} ]] || fail "no free port pair in 6817-6836: set NNMF_SLURM_PORT"
    fi
    slurmd_port=$((ctld_port + 1))
}

write_conf() {
    # The node as slurmd itself sees it (CPUs, sockets, cores, threads); memory a little below what
    # it detects (declaring more than slurmd finds makes the node invalid).
    local hw field topo="" mem=""
    hw=$(slurmd -C 2>/dev/null | head -n 1) || true
    for field in $hw; do
        case $field in
            CPUs=* | Boards=* | SocketsPerBoard=* | CoresPerSocket=* | ThreadsPerCore=*) topo+=" $field" ;;
            RealMemory=*) mem=${field#RealMemory=} ;;
        esac
    done
    [[ $topo == *CPUs=* ]] || topo=" CPUs=$(nproc)"
    [[ $mem =~ ^[0-9]+$ ]] || mem=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024))
    mem=$((mem * 9 / 10))
    cat >"$conf" <<EOF
# A throw-away single-node Slurm written by scripts/slurm/local-slurm.sh.
ClusterName=nnmf-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroup plugins: they need a delegated cgroup tree that containers rarely have.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobContainerType=job_container/none
# Jobs share the node CPU by CPU; queued jobs start at once.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
# scancel: SIGTERM, then SIGKILL 5 s later. Finished jobs stay visible to scontrol for an hour.
KillWait=5
MinJobAge=3600
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host$topo RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# stop_pids SECONDS WHAT PID...: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pids() {
    local grace=$1 what=$2 pid left i
    shift 2
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < grace * 2; i++)); do
        left=()
        for pid in "$@"; do if alive "$pid"; then left+=("$pid"); fi; done
        [[ ${#left[@]} -gt 0 ]] || { say "stopped $what"; return 0; }
        sleep 0.5
    done
    say "$what still running after $grace s: SIGKILL to ${left[*]}"
    kill -KILL "${left[@]}" 2>/dev/null || true
}

# Job processes left behind when the jobs could not be cancelled (slurmstepd outlives slurmd):
# the slurmstepd processes started by this cluster's slurmd (their environment holds its
# SLURM_CONF) and everything below them.
leftovers() {
    local pid
    for pid in $(pgrep -x slurmstepd || true); do
        if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "SLURM_CONF=$conf"; then
            echo "$pid"
            below "$pid"
        fi
    done
}
below() {
    local child
    for child in $(pgrep -P "$1" || true); do
        echo "$child"
        below "$child"
    done
}

do_stop() {
    local ctld slurmd munged jobs
    ctld=$(daemon_pid slurmctld) slurmd=$(daemon_pid slurmd) munged=$(daemon_pid munged)
    export SLURM_CONF=$conf
    if [[ -n $ctld && -n $munged ]]; then
        jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u | xargs) || jobs=""
        if [[ -n $jobs ]]; then
            say "cancelling jobs $jobs"
            # shellcheck disable=SC2086  # one argument per job id
            timeout 10 scancel $jobs || true
            retry 30 no_jobs || say "jobs still listed 30 s after scancel"
        fi
    fi
    # slurmd and slurmctld first, munged last: both talk to it until they exit.
    local pids=()
    [[ -z $slurmd ]] || pids+=("$slurmd")
    [[ -z $ctld ]] || pids+=("$ctld")
    stop_pids 20 "slurmd and slurmctld" "${pids[@]}"
    [[ -z $munged ]] || stop_pids 20 munged "$munged"
    local rest
    mapfile -t rest < <(leftovers | sort -un)
    if [[ ${#rest[@]} -gt 0 ]]; then
        say "job processes left behind: ${rest[*]}"
        stop_pids 5 "the jobs' processes" "${rest[@]}"
    fi
    [[ -n $ctld$slurmd$munged ]] || say "no daemon of $dir was running"
    rm -f "$dir"/pid/* "$envfile" 2>/dev/null || true
}

# On a failed start: show the logs and take down whatever was started.
failed_start() {
    local rc=$?
    ((rc == 0)) && return 0
    show_logs
    say "start failed; stopping what was started"
    do_stop || true
    exit "$rc"
}

do_start() {
    [[ $(id -u) == 0 ]] || fail "start must run as root (the daemons and the jobs run as root)"
    local m c d
    m=$(daemon_pid munged) c=$(daemon_pid slurmctld) d=$(daemon_pid slurmd)
    if [[ -n $m && -n $c && -n $d && -s $envfile ]]; then
        say "already running in $dir"
        cat "$envfile"
        return 0
    fi
    if [[ -n $m$c$d ]]; then
        say "part of a cluster runs in $dir: stopping it before a fresh start"
        do_stop
    fi
    if [[ -e $dir && ! -e $mark ]] && [[ -n $(ls -A "$dir" 2>/dev/null) ]]; then
        fail "$dir is not empty and was not made by local-slurm.sh: choose another directory"
    fi
    [[ ${#sock} -le 107 ]] || fail "$sock is too long for a Unix socket: choose a shorter directory"
    install_slurm
    pick_ports
    host=$(hostname -s 2>/dev/null || true)
    # slurmctld runs only where SlurmctldHost names this machine; "localhost" also does.
    [[ $host =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || host=localhost

    # A fresh cluster each time: no jobs or node state carried over; old logs are kept.
    mkdir -p "$dir"
    touch "$mark"
    rm -rf "$dir/ctld" "$dir/spool" "$dir/run" "$dir/pid" "$dir/munge" "$conf" "$envfile"
    mkdir -p "$dir/ctld" "$dir/spool" "$dir/run" "$dir/pid" "$dir/munge" "$dir/log"
    # munged wants its socket directory reachable by everyone and its key readable by it alone.
    chmod 755 "$dir" "$dir/munge"
    trap failed_start EXIT

    (umask 077 && head -c 1024 /dev/urandom >"$dir/munge/key")
    # --force: accept a parent directory that others can write to (/tmp).
    launch munged munged --foreground --force --key-file="$dir/munge/key" --socket="$sock" \
        --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/seed" --log-file="$dir/log/munged.log"
    retry 30 munge_answers || fail "munged does not answer on $sock"
    say "munged runs (pid $(cat "$dir/pid/munged"))"

    write_conf
    export SLURM_CONF=$conf
    launch slurmctld slurmctld -D -f "$conf"
    retry 60 timeout 5 sinfo -h || fail "slurmctld does not answer on port $ctld_port"
    say "slurmctld runs (pid $(cat "$dir/pid/slurmctld"), port $ctld_port)"

    launch slurmd slurmd -D -f "$conf" -N "$host"
    local state="" end=$((SECONDS + 60))
    while [[ $state != idle ]]; do
        [[ -n $(daemon_pid slurmd) ]] || fail "slurmd exited"
        state=$(timeout 5 sinfo -h -N -n "$host" -o %T 2>/dev/null) || state=""
        case $state in
            idle) ;;
            # slurmctld refused the node as slurmd described it: waiting would not help.
            inval* | drain*) fail "node $host is $state: $(timeout 5 sinfo -h -N -n "$host" -o %E 2>/dev/null)" ;;
            *) ((SECONDS < end)) || fail "node $host not idle after 60 s (state: ${state:-none})" ;;
        esac
        [[ $state == idle ]] || sleep 0.5
    done
    trap - EXIT
    say "slurmd runs (pid $(cat "$dir/pid/slurmd"), port $slurmd_port); node $host idle with" \
        "$(sinfo -h -N -n "$host" -o '%c CPUs and %m MB')"
    echo "export SLURM_CONF=$conf" >"$envfile"
    cat "$envfile"
}

case $cmd in
    start) do_start ;;
    stop) do_stop ;;
    env)
        [[ -n $(daemon_pid slurmctld) && -s $envfile ]] || fail "no cluster runs in $dir (start it first)"
        cat "$envfile"
        ;;
    *) usage ;;
esac
