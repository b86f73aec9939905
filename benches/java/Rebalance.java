// The Java consumer's side of the rebalance bench (benches/benches/kafka_rebalance.rs
// runs ours and this in turn): three members of a fresh group own a 48-partition
// topic; a fourth joins; the time from its subscribe until the four own 12
// partitions each, as their rebalance listeners report, is one sample.
//
//   java -cp "$KAFKA_LIBS/*:DIR" Rebalance BOOTSTRAP TOPIC MODE ROUNDS
//
// MODE: eager (classic, range), cooperative (classic, cooperative-sticky) or
// consumer (KIP-848). Prints "sample MODE MS" per round.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class Rebalance {
    static final class Member implements Runnable {
        final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
        final AtomicBoolean stop = new AtomicBoolean();
        final Properties props;
        final String topic;
        final Thread thread;

        Member(Properties props, String topic) {
            this.props = props;
            this.topic = topic;
            this.thread = new Thread(this);
        }

        public void run() {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        owned.removeAll(parts);
                    }
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        owned.addAll(parts);
                    }
                    public void onPartitionsLost(Collection<TopicPartition> parts) {
                        owned.removeAll(parts);
                    }
                });
                while (!stop.get()) {
                    c.poll(Duration.ofMillis(20));
                }
            }
        }
    }

    static boolean split(List<Member> members, int each) {
        Set<TopicPartition> all = new HashSet<>();
        for (Member m : members) {
            Set<TopicPartition> o = new HashSet<>(m.owned);
            if (o.size() != each) return false;
            all.addAll(o);
        }
        return all.size() == each * members.size();
    }

    static void await(List<Member> members, int each) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!split(members, each)) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("never split " + each + " each");
            Thread.sleep(2);
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], mode = args[2];
        int rounds = Integer.parseInt(args[3]);
        for (int r = 0; r < rounds; r++) {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("group.id", "bench-rebalance-java-" + mode + "-" + UUID.randomUUID());
            p.put("key.deserializer", ByteArrayDeserializer.class.getName());
            p.put("value.deserializer", ByteArrayDeserializer.class.getName());
            p.put("enable.auto.commit", "false");
            if (mode.equals("consumer")) {
                p.put("group.protocol", "consumer");
            } else {
                p.put("group.protocol", "classic");
                p.put("session.timeout.ms", "6000");
                p.put("heartbeat.interval.ms", "500");
                p.put("partition.assignment.strategy", mode.equals("eager")
                    ? "org.apache.kafka.clients.consumer.RangeAssignor"
                    : "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
            }
            List<Member> members = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Member m = new Member(p, topic);
                members.add(m);
                m.thread.start();
            }
            await(members, 16);
            long start = System.nanoTime();
            Member fourth = new Member(p, topic);
            members.add(fourth);
            fourth.thread.start();
            await(members, 12);
            long ms = (System.nanoTime() - start) / 1_000_000;
            System.out.println("sample " + mode + " " + ms);
            for (Member m : members) m.stop.set(true);
            for (Member m : members) m.thread.join();
        }
    }
}
