// Java's side of the record-batch golden files (see scripts/kafka-record-goldens).
//
//   java -cp 'kafka-dist/<version>/lib/*' scripts/lib/KafkaRecordGoldens.java txn <bootstrap> <topic> <codec>
//       A transactional producer: 3 records committed, then 2 records aborted,
//       so the topic's log holds transactional batches and COMMIT/ABORT markers.
//   java -cp ... scripts/lib/KafkaRecordGoldens.java legacy <out-dir>
//       Legacy message sets (magic 0 and 1, each codec Kafka allowed there),
//       written by Java's own MemoryRecords builder, since Kafka 4 brokers no
//       longer write them.
//   java -cp ... scripts/lib/KafkaRecordGoldens.java dump <segment>
//       Reads a segment with Java's record classes (CRC check, Java's own
//       decompressors) and prints every batch and record, bytes in hex,
//       header values included (DumpLogSegments prints only header keys).
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.MutableRecordBatch;
import org.apache.kafka.common.record.internal.Record;
import org.apache.kafka.common.record.internal.SimpleRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class KafkaRecordGoldens {
    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "txn" -> txn(args[1], args[2], args[3]);
            case "legacy" -> legacy(Path.of(args[1]));
            case "dump" -> dump(Path.of(args[1]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    static void txn(String bootstrap, String topic, String codec) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("transactional.id", topic + "-txn");
        props.put("compression.type", codec);
        props.put("linger.ms", "50");
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 3; i++) {
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, 0,
                        utf8("txn-key-" + i), utf8("committed value " + i + " from the Java transactional producer"));
                record.headers().add("txn", utf8("commit")).add("txn", utf8("again"));
                producer.send(record);
            }
            producer.commitTransaction();
            producer.beginTransaction();
            for (int i = 3; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, 0,
                        utf8("txn-key-" + i), utf8("aborted value " + i + " from the Java transactional producer")));
            }
            producer.flush();
            producer.abortTransaction();
        }
    }

    static void legacy(Path out) throws Exception {
        for (byte magic : new byte[] {0, 1}) {
            for (String codec : new String[] {"none", "gzip", "snappy", "lz4"}) {
                Compression compression = switch (codec) {
                    case "gzip" -> Compression.gzip().build();
                    case "snappy" -> Compression.snappy().build();
                    case "lz4" -> Compression.lz4().build();
                    default -> Compression.NONE;
                };
                List<SimpleRecord> records = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    records.add(new SimpleRecord(1_700_000_000_000L + i, utf8("legacy-key-" + i),
                            utf8("legacy magic " + magic + " " + codec + " value " + i + ", legacy legacy legacy")));
                }
                records.add(new SimpleRecord(1_700_000_000_005L, (byte[]) null, (byte[]) null));
                MemoryRecords built = MemoryRecords.withRecords(magic, 100L, compression,
                        TimestampType.CREATE_TIME, records.toArray(new SimpleRecord[0]));
                ByteBuffer buffer = built.buffer();
                byte[] bytes = new byte[buffer.remaining()];
                buffer.get(bytes);
                Files.write(out.resolve("java-legacy-v" + magic + "-" + codec + ".log"), bytes);
            }
        }
    }

    static String hex(ByteBuffer buffer) {
        if (buffer == null) {
            return "null";
        }
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    static String hex(byte[] bytes) {
        return bytes == null ? "null" : HexFormat.of().formatHex(bytes);
    }

    static void dump(Path segment) throws Exception {
        MemoryRecords records = MemoryRecords.readableRecords(ByteBuffer.wrap(Files.readAllBytes(segment)));
        for (MutableRecordBatch batch : records.batches()) {
            batch.ensureValid();
            System.out.println("batch " + batch.baseOffset() + " " + batch.lastOffset() + " "
                    + batch.compressionType().name + " control=" + batch.isControlBatch() + " valid");
            for (Record record : batch) {
                record.ensureValid();
                StringBuilder headers = new StringBuilder();
                for (Header header : record.headers()) {
                    headers.append(headers.length() == 0 ? "" : ";").append(header.key()).append('=').append(hex(header.value()));
                }
                System.out.println("record " + record.offset() + " " + record.timestamp() + " " + hex(record.key())
                        + " " + hex(record.value()) + " " + (headers.length() == 0 ? "-" : headers));
            }
        }
    }
}
