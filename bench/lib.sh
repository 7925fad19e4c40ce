# Shared by the MySQL benchmarks (bench/mysql-ab, bench/mysql-instructions, bench/mysql-rtt,
# bench/mysql-vs-mysqld-exporter, bench/trx-sum-dips) and scripts/pgo-profile, which runs what
# they measure; sourced from the project root, not run.
# shellcheck shell=bash

# Starts the project's services (scripts/services: MariaDB, its replica, memcached, ...) and
# reads their addresses and credentials into the environment (HEADROOM_TEST_*). Sets SVC
# (their directory) and DPID (mariadbd's pid).
bench_services() {
  scripts/services start >/dev/null
  SVC=${HEADROOM_SERVICES_DIR:-.services}
  # shellcheck disable=SC1091
  source "$SVC/env"
  DPID=$(cat "$SVC/mariadb.pid")
}

# A process's CPU time so far, in seconds, to the nanosecond: its process CPU clock
# (clock_getcpuclockid(3); the kernel's id for it is MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
# = (~pid << 3) | 2, include/linux/posix-timers.h), which counts the threads that have exited
# as /proc/PID/stat does, where /proc counts in clock ticks of 10 ms: too coarse for a
# round of a few hundred milliseconds.
cpu_s() { python3 -c 'import sys, time; print("%.9f" % time.clock_gettime(((~int(sys.argv[1])) << 3) | 2))' "$1"; }
# A process's peak resident set (VmHWM), in KiB.
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# A TCP port free on loopback now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Writes to FILE a headroom config listening on PORT with one mysql target, the services'
# MariaDB polled every 100 ms; the password comes from BENCH_PW (run headroom with
# BENCH_PW=$HEADROOM_TEST_MYSQL_PASSWORD).
mysql_config() {
  cat > "$1" <<YML
listen: 127.0.0.1:$2
mysql:
  - {name: bench, address: $HEADROOM_TEST_MYSQL, user: $HEADROOM_TEST_MYSQL_USER, password_env: BENCH_PW, interval: 100ms, timeout: 5s}
YML
}

# The polls a headroom listening on PORT has made (headroom_polls_total).
polls_of() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^headroom_polls_total\{/ {print $2}'; }
