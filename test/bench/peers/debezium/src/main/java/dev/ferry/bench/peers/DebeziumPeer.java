// The Debezium peer that test/bench measures Ferry against: the embedded engine streaming a PostgreSQL table
// (pgoutput, an existing slot and publication, no snapshot) until it has seen N changes, written either as
// JSON lines to a file or sent to Kafka the way a Kafka Connect worker would. Run alone: see ../README.md.
package dev.ferry.bench.peers;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.JsonByteArray;

public final class DebeziumPeer {

    private DebeziumPeer() {
    }

    /** Where each change goes: a file of JSON lines, or a Kafka topic. */
    private interface Output extends AutoCloseable {
        void accept(byte[] key, byte[] value) throws Exception;

        /** Everything accepted so far is written (file) or acknowledged by the broker (Kafka). */
        void drain() throws Exception;
    }

    private static final class FileOutput implements Output {
        private final OutputStream out;

        FileOutput(Path path) throws IOException {
            this.out = new BufferedOutputStream(Files.newOutputStream(path), 1 << 16);
        }

        @Override
        public void accept(byte[] key, byte[] value) throws IOException {
            out.write(value);
            out.write('\n');
        }

        @Override
        public void drain() throws IOException {
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }

    private static final class KafkaOutput implements Output {
        private final KafkaProducer<byte[], byte[]> producer;
        private final String topic;
        private final AtomicReference<Exception> failure = new AtomicReference<>();

        KafkaOutput(Map<String, String> args) {
            Map<String, Object> props = new HashMap<>();
            props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args.getOrDefault("bootstrap", "127.0.0.1:59092"));
            props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            // What a Kafka Connect worker gives a source task's producer (Worker.baseProducerConfigs): acks=all,
            // one request in flight per connection, sends that never give up; linger.ms and batch.size are left
            // at the client's defaults. Connect turns idempotence off for old brokers' sake; the setup
            // turns it on, as Ferry's producer does.
            props.put(ProducerConfig.ACKS_CONFIG, "all");
            props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
            props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.toString(Integer.MAX_VALUE));
            props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(Long.MAX_VALUE));
            props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, args.getOrDefault("compression", "gzip"));
            props.put(ProducerConfig.CLIENT_ID_CONFIG, "ferry-bench-debezium-peer");
            // Overrides, as a worker's `producer.*` settings would be given.
            for (Map.Entry<String, String> e : args.entrySet()) {
                if (e.getKey().startsWith("producer.")) {
                    props.put(e.getKey().substring("producer.".length()), e.getValue());
                }
            }
            this.producer = new KafkaProducer<>(props);
            this.topic = required(args, "topic");
        }

        @Override
        public void accept(byte[] key, byte[] value) throws Exception {
            Exception failed = failure.get();
            if (failed != null) {
                throw failed;
            }
            producer.send(new ProducerRecord<>(topic, key, value), (metadata, error) -> {
                if (error != null) {
                    failure.compareAndSet(null, error);
                }
            });
        }

        @Override
        public void drain() throws Exception {
            producer.flush();
            Exception failed = failure.get();
            if (failed != null) {
                throw failed;
            }
        }

        @Override
        public void close() {
            producer.close();
        }
    }

    public static void main(String[] argv) throws Exception {
        // Before the first logger is made: Debezium logs every connection and offset flush at info.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");

        Map<String, String> args = parse(argv);
        String mode = required(args, "mode");
        long expected = Long.parseLong(required(args, "events"));
        Path offsets = Files.createTempFile("ferry-debezium-offsets-", ".dat");
        Files.deleteIfExists(offsets);

        Output output;
        if ("file".equals(mode)) {
            output = new FileOutput(Path.of(required(args, "out")));
        }
        else if ("kafka".equals(mode)) {
            output = new KafkaOutput(args);
        }
        else {
            throw new IllegalArgumentException("--mode must be file or kafka, not " + mode);
        }

        Properties props = new Properties();
        props.setProperty("name", "ferry-bench-debezium-peer");
        props.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        props.setProperty("offset.storage", "org.apache.kafka.connect.storage.FileOffsetBackingStore");
        props.setProperty("offset.storage.file.filename", offsets.toString());
        props.setProperty("database.hostname", args.getOrDefault("host", "127.0.0.1"));
        props.setProperty("database.port", args.getOrDefault("port", "55432"));
        props.setProperty("database.user", args.getOrDefault("user", "ferry"));
        props.setProperty("database.password", args.getOrDefault("password", "ferry"));
        props.setProperty("database.dbname", args.getOrDefault("database", "ferry"));
        props.setProperty("topic.prefix", "ferrybench");
        props.setProperty("table.include.list", required(args, "table"));
        props.setProperty("plugin.name", "pgoutput");
        props.setProperty("slot.name", required(args, "slot"));
        props.setProperty("publication.name", required(args, "publication"));
        props.setProperty("publication.autocreate.mode", "disabled");
        props.setProperty("snapshot.mode", "no_data");
        props.setProperty("decimal.handling.mode", "string");
        // The caller owns the slot (created before the workload, dropped after).
        props.setProperty("slot.drop.on.stop", "false");
        props.setProperty("converter.schemas.enable", "false");
        for (Map.Entry<String, String> e : args.entrySet()) {
            if (e.getKey().startsWith("debezium.")) {
                props.setProperty(e.getKey().substring("debezium.".length()), e.getValue());
            }
        }

        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long[] seen = { 0 };
        long[] firstNanos = { 0 };
        long[] lastNanos = { 0 };

        DebeziumEngine.ChangeConsumer<ChangeEvent<byte[], byte[]>> consumer = (List<ChangeEvent<byte[], byte[]>> records,
                                                                                DebeziumEngine.RecordCommitter<ChangeEvent<byte[], byte[]>> committer) -> {
            try {
                for (ChangeEvent<byte[], byte[]> record : records) {
                    // Tombstones (a delete's second record) carry no change; this workload has none.
                    if (record.value() != null && seen[0] < expected) {
                        if (seen[0] == 0) {
                            firstNanos[0] = System.nanoTime();
                        }
                        output.accept(record.key(), record.value());
                        seen[0] += 1;
                    }
                    committer.markProcessed(record);
                }
                committer.markBatchFinished();
                if (seen[0] >= expected && done.getCount() > 0) {
                    output.drain();
                    lastNanos[0] = System.nanoTime();
                    done.countDown();
                }
            }
            catch (Exception e) {
                failure.compareAndSet(null, e);
                done.countDown();
            }
        };

        DebeziumEngine<ChangeEvent<byte[], byte[]>> engine = DebeziumEngine.create(JsonByteArray.class)
                .using(props)
                .notifying(consumer)
                .using((success, message, error) -> {
                    if (!success) {
                        failure.compareAndSet(null, error != null ? error : new IllegalStateException(message));
                    }
                    done.countDown();
                })
                .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);

        long timeoutSeconds = Long.parseLong(args.getOrDefault("timeout", "900"));
        boolean finished = done.await(timeoutSeconds, TimeUnit.SECONDS);
        Throwable failed = failure.get();
        if (!finished) {
            failed = new IllegalStateException("saw " + seen[0] + " of " + expected + " changes in " + timeoutSeconds + " s");
        }
        if (failed == null && seen[0] < expected) {
            failed = new IllegalStateException("the engine stopped after " + seen[0] + " of " + expected + " changes");
        }
        // Measured before the engine closes: shutting down is not part of the work.
        double cpuSeconds = processCpuSeconds();
        long peakRss = peakRssBytes();
        try {
            engine.close();
        }
        catch (IllegalStateException alreadyStopped) {
            // The engine stopped on its own (a failure): nothing left to close.
        }
        try {
            output.close();
        }
        finally {
            executor.shutdownNow();
            Files.deleteIfExists(offsets);
        }
        if (failed != null) {
            System.err.println("debezium peer failed: " + failed);
            failed.printStackTrace(System.err);
            System.exit(1);
        }
        double seconds = (lastNanos[0] - firstNanos[0]) / 1e9;
        System.out.println("{\"tool\":\"debezium\",\"mode\":\"" + mode + "\",\"events\":" + seen[0] + ",\"seconds\":" + seconds
                + ",\"cpuSeconds\":" + cpuSeconds + ",\"peakRssBytes\":" + peakRss + "}");
        System.out.flush();
        // The engine's and the producer's non-daemon threads may outlive close(); the figures are out.
        System.exit(0);
    }

    private static double processCpuSeconds() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime() / 1e9;
        }
        return Double.NaN;
    }

    /** VmHWM: the resident set's high-water mark, which the JVM's own MX beans do not expose. */
    private static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        }
        catch (IOException e) {
            // Not Linux: the caller sees -1 and says the figure is missing.
        }
        return -1;
    }

    /** `--name=value` or `--name value`. */
    private static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + a);
            }
            int eq = a.indexOf('=');
            if (eq > 0) {
                args.put(a.substring(2, eq), a.substring(eq + 1));
            }
            else if (i + 1 < argv.length) {
                args.put(a.substring(2), argv[++i]);
            }
            else {
                throw new IllegalArgumentException(a + " needs a value");
            }
        }
        return args;
    }

    private static String required(Map<String, String> args, String name) {
        String value = args.get(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }
}
