#!/usr/bin/env bash
# Single-node KRaft Kafka broker on loopback, for tests. Jars come from Maven Central (pom.xml here).
#   broker.sh fetch                   cache jars in $KAFKA_CACHE/libs (idempotent)
#   broker.sh start [PORT] [DATADIR]  format DATADIR once, start broker (PLAINTEXT PORT, CONTROLLER PORT+1)
#   broker.sh format [PORT] [DATADIR] only write server.properties and format DATADIR (if new)
#   broker.sh cluster-ids [N]         print N random cluster ids as `start` draws them
#   broker.sh stop  [DATADIR]         SIGTERM, wait (SIGKILL after 30 s)
#   broker.sh kill9 [DATADIR]         SIGKILL, wait
# Env: KAFKA_CACHE (default ~/.cache/ingestd-kafka), KAFKA_HEAP_OPTS (default -Xms128m -Xmx512m),
#      KAFKA_START_TIMEOUT (default 60 s), KAFKA_CLUSTER_ID (default: a random one, when formatting).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KAFKA_CACHE:-$HOME/.cache/ingestd-kafka}"
LIBS="$CACHE/libs"
HEAP="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
DEFAULT_DATADIR="$CACHE/data"

die() { echo "broker.sh: $*" >&2; exit 1; }

fetch() {
  # The .complete marker is written only after a full copy, and names the pom's checksum,
  # so a changed pom (e.g. a new Kafka version) refetches.
  local sum; sum="$(sha256sum "$HERE/pom.xml" | cut -c1-16)"
  if [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$sum" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found"
  rm -rf "$LIBS.tmp"
  mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 || die "mvn dependency:copy-dependencies failed"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
  echo "$sum" > "$LIBS/.complete"
}

alive() { [[ -f "$1/broker.pid" ]] && kill -0 "$(cat "$1/broker.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Small test JVM: fast startup (C1 only, serial GC) and a small heap.
jvm_args() { JVM=(java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
                  -Dlog4j2.configurationFile="$HERE/log4j2.xml" -Dkafka.broker.log="$DATADIR/broker.log"
                  -cp "$LIBS/*"); }

# A random KRaft cluster id as Kafka makes it (Uuid.randomUuid): 16 random bytes, base64url
# without padding, never starting with '-' (tools would read such an id as an option).
random_cluster_id() {
  local cid
  while true; do
    cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    [[ "$cid" != -* ]] && { echo "$cid"; return 0; }
  done
}

# Writes $DATADIR/server.properties for $PORT, and formats $DATADIR unless it already is.
format_storage() {
  local cport=$((PORT + 1))
  [[ -f "$LIBS/.complete" ]] || fetch
  mkdir -p "$DATADIR"; DATADIR="$(cd "$DATADIR" && pwd)"
  jvm_args
  cat > "$DATADIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATADIR/logs
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted broker cannot register until the dead incarnation's
# session expires (default 9 s): keep that short so crash tests restart quickly.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
PROPS
  if [[ ! -f "$DATADIR/logs/meta.properties" ]]; then
    local cid="${KAFKA_CLUSTER_ID:-$(random_cluster_id)}"
    # "--cluster-id=ID" in one word: an id given as its own word is taken for an option
    # when it starts with '-'.
    "${JVM[@]}" kafka.tools.StorageTool format --cluster-id="$cid" -c "$DATADIR/server.properties" \
        >>"$DATADIR/broker.log" 2>&1 || { tail -20 "$DATADIR/broker.log" >&2; die "storage format failed"; }
  fi
}

start() {
  PORT="${1:-9092}"; DATADIR="${2:-$DEFAULT_DATADIR}"
  mkdir -p "$DATADIR"; DATADIR="$(cd "$DATADIR" && pwd)"
  if alive "$DATADIR"; then echo "broker already running (pid $(cat "$DATADIR/broker.pid"))"; return 0; fi
  port_open "$PORT" && die "port $PORT already in use"
  format_storage
  echo "=== start $(date -Is) port $PORT" >>"$DATADIR/broker.log"
  nohup "${JVM[@]}" kafka.Kafka "$DATADIR/server.properties" >>"$DATADIR/broker.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$DATADIR/broker.pid"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60}))
  until port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -30 "$DATADIR/broker.log" >&2; die "broker exited during startup"; fi
    if (( SECONDS >= deadline )); then
      kill -9 "$pid" 2>/dev/null || true; tail -30 "$DATADIR/broker.log" >&2; die "broker not listening on $PORT after ${KAFKA_START_TIMEOUT:-60}s"
    fi
    sleep 0.2
  done
  echo "broker up on 127.0.0.1:$PORT (pid $pid, data $DATADIR)"
}

wait_gone() {  # pid seconds
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do (( SECONDS >= deadline )) && return 1; sleep 0.1; done
}

stop() {
  DATADIR="${1:-$DEFAULT_DATADIR}"
  alive "$DATADIR" || { rm -f "$DATADIR/broker.pid"; return 0; }
  local pid; pid="$(cat "$DATADIR/broker.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" 30; then kill -9 "$pid" 2>/dev/null || true; wait_gone "$pid" 10 || true; fi
  rm -f "$DATADIR/broker.pid"
}

kill9() {
  DATADIR="${1:-$DEFAULT_DATADIR}"
  alive "$DATADIR" || { rm -f "$DATADIR/broker.pid"; return 0; }
  local pid; pid="$(cat "$DATADIR/broker.pid")"
  kill -9 "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  rm -f "$DATADIR/broker.pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  fetch) fetch ;;
  start) start "$@" ;;
  cluster-ids) for ((i = 0; i < ${1:-1}; i++)); do random_cluster_id; done ;;
  format) PORT="${1:-9092}"; DATADIR="${2:-$DEFAULT_DATADIR}"; format_storage ;;
  stop)  stop "$@" ;;
  kill9) kill9 "$@" ;;
  *) echo "usage: $0 fetch | start [PORT] [DATADIR] | format [PORT] [DATADIR] | cluster-ids [N] | stop [DATADIR] | kill9 [DATADIR]" >&2; exit 2 ;;
esac
