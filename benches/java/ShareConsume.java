// The Java share consumer's side of the share-group bench
// (benches/benches/kafka_share.rs runs ours and this in turn): a fresh share
// group, set to start at the earliest offset, reads COUNT records of TOPIC
// with one KafkaShareConsumer (kafka-clients 4.3.1), accepting each
// (explicit acknowledgement, committed with each poll). Prints
// "sample java MSGS_PER_S CPU_NS_PER_MSG".
//
//   java -cp "$KAFKA_LIBS/*:DIR" ShareConsume BOOTSTRAP TOPIC COUNT

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ShareConsume {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        long count = Long.parseLong(args[2]);
        String group = "bench-share-java-" + UUID.randomUUID();
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
            AlterConfigOp op = new AlterConfigOp(
                new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(Map.of(res, List.of(op))).all().get();
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        var bean = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p)) {
            c.subscribe(List.of(topic));
            long seen = 0;
            long start = 0, cpuStart = 0;
            while (seen < count) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(100));
                if (recs.isEmpty()) continue;
                if (start == 0) {
                    start = System.nanoTime();
                    cpuStart = bean.getProcessCpuTime();
                }
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                    seen++;
                }
            }
            c.commitSync();
            long ns = System.nanoTime() - start;
            long cpu = bean.getProcessCpuTime() - cpuStart;
            System.out.println("sample java " + (long) (seen * 1e9 / ns) + " " + (cpu / seen));
        }
    }
}
