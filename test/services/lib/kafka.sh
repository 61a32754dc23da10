# shellcheck shell=bash
# Apache Kafka, single-node KRaft (broker+controller), broker on 127.0.0.1:59092, controller on
# 127.0.0.1:59093. Jars come from Maven Central through mvn and are cached under
# $XDG_CACHE_HOME/ferry/kafka-<version>/libs. Sourced by up.sh/down.sh/status.sh after common.sh.

KAFKA_VERSION="${FERRY_KAFKA_VERSION:-3.9.2}"
KAFKA_SLF4J_VERSION=1.7.36 # the slf4j-api version kafka 3.9.x depends on
KAFKA_PORT=59092
KAFKA_CONTROLLER_PORT=59093
KAFKA_READY_TIMEOUT="${FERRY_KAFKA_READY_TIMEOUT:-240}"
KAFKA_HEAP_OPTS="${FERRY_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

kafka_comm() { echo java; }
kafka_ports() { echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT"; }
kafka_packages() {
  local p=()
  command -v java >/dev/null || p+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || p+=(maven)
  echo "${p[@]}"
}

kafka_base() { svc_dir kafka; }
kafka_libs() { echo "$FERRY_CACHE_DIR/kafka-$KAFKA_VERSION/libs"; }
kafka_props() { echo "$(kafka_base)/server.properties"; }

# Download kafka_2.13, kafka-tools and an slf4j binding with their runtime dependencies, once.
kafka_install() {
  local libs cache
  command -v node >/dev/null || die_service kafka "node is required (the health check uses kafkajs)"
  command -v java >/dev/null || die_service kafka "java missing after installing openjdk-17-jre-headless"
  (cd "$FERRY_LIB_DIR" && node -e "require.resolve('kafkajs')" >/dev/null 2>&1) ||
    die_service kafka "the npm package kafkajs is not installed (the health check uses it): run npm ci first"
  libs="$(kafka_libs)"
  cache="$(dirname "$libs")"
  if [[ -f "$libs/.complete" ]]; then return 0; fi
  local log="$FERRY_LOG_DIR/kafka-mvn.log"
  working_on kafka "$log"
  say "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $libs (first run only; log: $log)"
  mkdir -p "$cache"
  cat >"$cache/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by ferry test/services/lib/kafka.sh: resolves the jars of a Kafka $KAFKA_VERSION broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ferry.test</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$KAFKA_SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$libs.tmp"
  (cd "$cache" && mvn -B -q -f "$cache/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.tmp" </dev/null >>"$log" 2>&1)
  ls "$libs.tmp"/kafka_2.13-"$KAFKA_VERSION".jar "$libs.tmp"/kafka-tools-"$KAFKA_VERSION".jar \
    "$libs.tmp"/slf4j-reload4j-*.jar "$libs.tmp"/reload4j-*.jar >>"$log" 2>&1 ||
    die_service kafka "mvn did not produce the expected jars in $libs.tmp"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  touch "$libs/.complete"
  FERRY_CURRENT_SERVICE=""
  say "kafka: $(find "$libs" -name '*.jar' | wc -l) jars cached"
}

# kafka_cmd MAINCLASS ARGS...: sets the array KAFKA_CMD to the full java command line.
kafka_cmd() {
  local base
  base="$(kafka_base)"
  # shellcheck disable=SC2206 # KAFKA_HEAP_OPTS is a list of flags
  KAFKA_CMD=(java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
    "-Dlog4j.configuration=file:$base/log4j.properties" "-Dkafka.logs.dir=$base/app-logs"
    -cp "$(kafka_libs)/*" "$@")
}

# TCP connect + a metadata round trip (kafkajs admin listTopics, short timeouts).
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  timeout 15 node "$FERRY_LIB_DIR/kafka-ready.mjs" "127.0.0.1:$KAFKA_PORT" </dev/null
}

kafka_healthy() { kafka_ready; }

kafka_write_config() {
  local base
  base="$(kafka_base)"
  cat >"$(kafka_props)" <<EOF
# Written by test/services/lib/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$base/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=16777216
log.retention.hours=24
EOF
  cat >"$base/log4j.properties" <<EOF
# Written by test/services/lib/kafka.sh. Everything goes to stdout, which up.sh appends to
# $(svc_log kafka). Quiet: warnings, plus "Kafka Server started"/shutdown lines.
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=WARN
log4j.logger.kafka.server.ControllerServer=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.state.change.logger=WARN
EOF
}

kafka_prepare() {
  local base
  base="$(kafka_base)"
  mkdir -p "$base/data" "$base/app-logs"
  kafka_write_config
  if [[ ! -s "$base/cluster.id" ]]; then
    # A Kafka cluster id is a base64url-encoded 16-byte UUID (22 characters, no padding). Not starting with
    # '-', which the format command would read as an option (Kafka's own random ids avoid it too).
    local id=-
    while [[ "$id" == -* ]]; do id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; done
    printf '%s' "$id" >"$base/cluster.id"
  fi
  if [[ ! -f "$base/data/meta.properties" ]]; then
    say "kafka: formatting KRaft storage in $base/data"
    kafka_cmd kafka.tools.StorageTool format -t "$(cat "$base/cluster.id")" -c "$(kafka_props)"
    "${KAFKA_CMD[@]}" </dev/null >>"$(svc_log kafka)" 2>&1
  fi
}

kafka_spawn() {
  kafka_cmd kafka.Kafka "$(kafka_props)"
  spawn_detached "$(svc_pidfile kafka)" "$(svc_log kafka)" "${KAFKA_CMD[@]}"
}

kafka_provision() { :; }

kafka_stop() {
  stop_pid "$(svc_pidfile kafka)" java TERM 45
}

kafka_describe() {
  echo "127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, Kafka $KAFKA_VERSION KRaft)"
}
