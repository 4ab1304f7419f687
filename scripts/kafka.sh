#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft) broker on 127.0.0.1, built from Maven Central jars only.
#
#   bash scripts/kafka.sh fetch                 # jars into .cache/kafka/libs (idempotent; skipped when present)
#   bash scripts/kafka.sh start [PORT] [DIR]    # format + start a broker (default port 9092, data in lakehouse/_kafka)
#   bash scripts/kafka.sh stop [DIR]            # stop the broker started with DIR
#
# Why Maven and not the Kafka tarball: Maven Central is the one artifact source we can reach everywhere (CI, offline
# mirrors), and the same ~/.m2 cache serves the Spark connector jars. The Python side (fitlake.streaming.broker)
# runs the same java command lines, so tests need only `fetch`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION="${FITLAKE_KAFKA_VERSION:-3.9.1}"
SCALA="2.13"
KAFKA_HOME="${FITLAKE_KAFKA_HOME:-$ROOT/.cache/kafka}"
LIBS="$KAFKA_HOME/libs"
STAMP="$LIBS/.fitlake-kafka-$KAFKA_VERSION"

fetch() {
  if [[ -f "$STAMP" ]]; then
    echo "kafka: jars for Apache Kafka $KAFKA_VERSION already in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || { echo "kafka: Maven (mvn) is needed to fetch the broker jars; install it." >&2; exit 2; }
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  # A throwaway pom: the broker (kafka_2.13 pulls server, metadata, raft, storage, group-coordinator; it holds
  # kafka.Kafka and kafka.tools.StorageTool) plus the reload4j binding Kafka 3.x logs through.
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fitlake</groupId><artifactId>kafka-broker-libs</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
</project>
EOF
  mkdir -p "$LIBS"
  echo "kafka: fetching Apache Kafka $KAFKA_VERSION broker jars from Maven Central into $LIBS"
  mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime -Dmdep.overWriteReleases=true
  ls "$LIBS"/kafka_${SCALA}-"$KAFKA_VERSION".jar >/dev/null
  touch "$STAMP"
  echo "kafka: $(ls "$LIBS"/*.jar | wc -l) jars ready in $LIBS"
}

start() {
  fetch >/dev/null
  local port="${1:-9092}" dir="${2:-$ROOT/lakehouse/_kafka}"
  exec "$ROOT/.venv/bin/python" -m fitlake.streaming.broker start --port "$port" --dir "$dir" --libs "$LIBS"
}

stop() {
  local dir="${1:-$ROOT/lakehouse/_kafka}"
  exec "$ROOT/.venv/bin/python" -m fitlake.streaming.broker stop --dir "$dir"
}

case "${1:-}" in
  fetch) fetch ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 fetch | start [PORT] [DIR] | stop [DIR]" >&2; exit 2 ;;
esac
