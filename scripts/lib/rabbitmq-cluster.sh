# A RabbitMQ cluster beside the default node, sourced by scripts/brokers.
#
# `scripts/brokers up --rabbitmq-nodes N` (N from 2 to 5) starts N more nodes
# of Debian's rabbitmq-server, clustered, on loopback: node K is
# mq-rabbitK@localhost, AMQP on RABBIT_CLUSTER_PORT_BASE+K (default 5680+K:
# 5681-5683 for three), Erlang distribution on 25680+K, its data, logs,
# config and pid file in .brokers/rabbitmq-cluster/K. No TLS, no plugins;
# guest/guest from loopback. The default node (5672, 5671) stays up beside it,
# for every other test.
#
# A plain `up` keeps a running cluster as it is. Another size is asked for
# explicitly, and replacing a cluster says that its queues go.

RABBIT_CLUSTER_STATE=$STATE/rabbitmq-cluster
RABBIT_CLUSTER_PORT_BASE=${RABBIT_CLUSTER_PORT_BASE:-5680}
RABBIT_CLUSTER_DIST_BASE=${RABBIT_CLUSTER_DIST_BASE:-25680}

rabbit_node_name() { echo "mq-rabbit$1@localhost"; }
rabbit_node_port() { echo $((RABBIT_CLUSTER_PORT_BASE + $1)); }
rabbit_cluster_size() { cat "$RABBIT_CLUSTER_STATE/size" 2>/dev/null || echo 0; }

# The node's Erlang VM, if it runs.
rabbit_node_pid() {
  local f=$RABBIT_CLUSTER_STATE/$1/pid
  [ -f "$f" ] || return 1
  local pid
  pid=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

rabbit_node_up() { $PROBE amqp 127.0.0.1 "$(rabbit_node_port "$1")"; }

rabbit_node_ctl() {
  local n=$1
  shift
  rabbitmqctl -n "$(rabbit_node_name "$n")" "$@"
}

write_rabbit_node_config() {
  local dir=$RABBIT_CLUSTER_STATE/$1
  mkdir -p "$dir"
  cat >"$dir/rabbitmq.conf" <<EOF
# Written by scripts/brokers up --rabbitmq-nodes; node $(rabbit_node_name "$1").
listeners.tcp.default = $(rabbit_node_port "$1")
EOF
  echo "[]." >"$dir/enabled_plugins"
  if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$dir"
  fi
  chmod 0755 "$RABBIT_CLUSTER_STATE" "$dir"
}

start_rabbit_node() {
  local n=$1 dir=$RABBIT_CLUSTER_STATE/$1
  if rabbit_node_pid "$n" >/dev/null; then return 0; fi
  log "starting RabbitMQ node $(rabbit_node_name "$n") on 127.0.0.1:$(rabbit_node_port "$n")"
  # Debian's wrapper runs the server as the rabbitmq user and keeps the
  # environment: these variables make the node one of its own.
  RABBITMQ_NODENAME=$(rabbit_node_name "$n") \
    RABBITMQ_NODE_PORT=$(rabbit_node_port "$n") \
    RABBITMQ_DIST_PORT=$((RABBIT_CLUSTER_DIST_BASE + n)) \
    RABBITMQ_MNESIA_BASE=$dir/mnesia \
    RABBITMQ_LOG_BASE=$dir/log \
    RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf \
    RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
    RABBITMQ_PID_FILE=$dir/pid \
    rabbitmq-server -detached >"$dir/start.log" 2>&1 \
    || { cat "$dir/start.log" >&2; die "RabbitMQ node $n failed to start"; }
}

wait_rabbit_node() {
  local n=$1 started=
  # `wait` follows the pid file until the node has booted (await_startup
  # fails at once while the VM has not yet registered its name).
  if rabbit_node_ctl "$n" wait --timeout 120 "$RABBIT_CLUSTER_STATE/$n/pid" >"$RABBIT_CLUSTER_STATE/$n/await.log" 2>&1 \
    && rabbit_node_ctl "$n" await_startup --timeout 120 >>"$RABBIT_CLUSTER_STATE/$n/await.log" 2>&1; then
    started=1
  fi
  if [ -z "$started" ]; then
    cat "$RABBIT_CLUSTER_STATE/$n/await.log" >&2
    tail -30 "$RABBIT_CLUSTER_STATE/$n"/log/*.log >&2 2>/dev/null || true
    die "RabbitMQ node $n did not start"
  fi
  for _ in $(seq 1 120); do
    rabbit_node_up "$n" && return 0
    sleep 0.5
  done
  die "RabbitMQ node $n does not answer AMQP on 127.0.0.1:$(rabbit_node_port "$n")"
}

# Graceful: the node leaves its queues' leadership, then stops.
stop_rabbit_node() {
  local n=$1
  rabbit_node_pid "$n" >/dev/null || return 0
  log "stopping RabbitMQ node $(rabbit_node_name "$n")"
  rabbit_node_ctl "$n" shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do rabbit_node_pid "$n" >/dev/null || return 0; sleep 0.5; done
  kill -9 "$(rabbit_node_pid "$n")" 2>/dev/null || true
}

# SIGKILL of the node's Erlang VM: no goodbye to the cluster or clients.
kill_rabbit_node() {
  local n=$1 pid
  pid=$(rabbit_node_pid "$n") || die "RabbitMQ node $n is not running"
  log "killing RabbitMQ node $(rabbit_node_name "$n") (pid $pid) with SIGKILL"
  kill -9 "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  # epmd forgets the name once the VM's socket to it closes; a restart
  # before that would find the name taken.
  for _ in $(seq 1 40); do
    epmd -names 2>/dev/null | grep -q "^name mq-rabbit$n at" || return 0
    sleep 0.25
  done
}

# SIGSTOP of the node's Erlang VM: its sockets stay open and the kernel
# takes what clients send, but nothing is answered (a kill ends it).
pause_rabbit_node() {
  local n=$1 pid
  pid=$(rabbit_node_pid "$n") || die "RabbitMQ node $n is not running"
  log "pausing RabbitMQ node $(rabbit_node_name "$n") (pid $pid) with SIGSTOP"
  kill -STOP "$pid"
}

stop_rabbit_cluster() {
  local size n
  size=$(rabbit_cluster_size)
  for n in $(seq "$size" -1 1); do stop_rabbit_node "$n"; done
}

# Starts the cluster of `size` nodes (0: none asked for: keep what runs).
up_rabbit_cluster() {
  local size=$1 have n
  have=$(rabbit_cluster_size)
  if [ "$size" = 0 ]; then
    # Nothing asked for: a cluster that runs (some of it) is kept and
    # completed; a stopped one stays stopped.
    size=$have
    [ "$size" -gt 0 ] && rabbit_cluster_running || return 0
  elif [ "$have" -gt 0 ] && [ "$have" != "$size" ]; then
    log "replacing the $have-node RabbitMQ cluster with $size nodes: its queues and messages go"
    stop_rabbit_cluster
    rm -rf "$RABBIT_CLUSTER_STATE"
  fi
  mkdir -p "$RABBIT_CLUSTER_STATE"
  local fresh=
  [ -f "$RABBIT_CLUSTER_STATE/size" ] || fresh=1
  for n in $(seq 1 "$size"); do
    write_rabbit_node_config "$n"
    start_rabbit_node "$n"
  done
  for n in $(seq 1 "$size"); do wait_rabbit_node "$n"; done
  if [ -n "$fresh" ]; then
    log "clustering ${size} RabbitMQ nodes with $(rabbit_node_name 1)"
    for n in $(seq 2 "$size"); do
      { rabbit_node_ctl "$n" stop_app \
        && rabbit_node_ctl "$n" join_cluster "$(rabbit_node_name 1)" \
        && rabbit_node_ctl "$n" start_app; } >"$RABBIT_CLUSTER_STATE/$n/join.log" 2>&1 \
        || { cat "$RABBIT_CLUSTER_STATE/$n/join.log" >&2; die "RabbitMQ node $n could not join the cluster"; }
    done
    echo "$size" >"$RABBIT_CLUSTER_STATE/size"
  fi
  for n in $(seq 1 "$size"); do wait_rabbit_node "$n"; done
  local running
  running=$(rabbit_node_ctl 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null || echo 0)
  [ "$running" = "$size" ] || die "the RabbitMQ cluster runs $running of $size nodes"
}

rabbit_cluster_urls() {
  rabbit_cluster_running || return 0
  local size n urls=()
  size=$(rabbit_cluster_size)
  for n in $(seq 1 "$size"); do urls+=("amqp://guest:guest@127.0.0.1:$(rabbit_node_port "$n")/%2f"); done
  local IFS=,
  echo "${urls[*]}"
}

# Some node of the cluster runs.
rabbit_cluster_running() {
  local n
  for n in $(seq 1 "$(rabbit_cluster_size)"); do
    rabbit_node_pid "$n" >/dev/null && return 0
  done
  return 1
}

rabbit_cluster_status() {
  local size n rc=0
  size=$(rabbit_cluster_size)
  [ "$size" -gt 0 ] || return 0
  if ! rabbit_cluster_running; then
    echo "rabbitmq cluster: stopped ($size nodes set up; up --rabbitmq-nodes $size starts it)"
    return 0
  fi
  for n in $(seq 1 "$size"); do
    if rabbit_node_pid "$n" >/dev/null && rabbit_node_up "$n"; then
      echo "rabbitmq cluster node $n: up, $(rabbit_node_name "$n") on 127.0.0.1:$(rabbit_node_port "$n")"
    else
      echo "rabbitmq cluster node $n: down ($(rabbit_node_name "$n"))"; rc=1
    fi
  done
  return $rc
}

rabbit_node_arg() {
  local n=${1:?give the node number}
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$(rabbit_cluster_size)" ] \
    || die "RabbitMQ node $n does not exist (cluster size $(rabbit_cluster_size))"
  echo "$n"
}
