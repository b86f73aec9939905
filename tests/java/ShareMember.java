// A Java share consumer (kafka-clients 4.3.1) as a test peer of ours:
// joins share group GROUP on TOPIC, accepts every record it gets and
// commits each poll's acknowledgements, then prints the values it accepted,
// one per line, so a printed value is an accepted one. Runs until killed.
//
//   java -cp "$KAFKA_LIBS/*:DIR" ShareMember BOOTSTRAP TOPIC GROUP

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;

import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ShareMember {
    public static void main(String[] args) {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("group.id", args[2]);
        p.put("client.id", "java-share");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        p.put("max.poll.records", "20");
        try (KafkaShareConsumer<String, String> c = new KafkaShareConsumer<>(p)) {
            c.subscribe(List.of(args[1]));
            while (true) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(100));
                if (recs.isEmpty()) continue;
                List<String> values = new ArrayList<>();
                for (ConsumerRecord<String, String> r : recs) {
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                    values.add(r.value());
                }
                Map<TopicIdPartition, Optional<KafkaException>> result = c.commitSync();
                boolean ok = result.values().stream().allMatch(Optional::isEmpty);
                if (!ok) {
                    System.err.println("commit failed: " + result);
                    continue;
                }
                for (String v : values) System.out.println(v);
                System.out.flush();
            }
        }
    }
}
