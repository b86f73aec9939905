// A transactional producer for the CLI tests: commits one transaction of
// the given values to partition 0 of a topic, so the log holds the values
// and then a commit marker (a control batch).
//
//   java -cp 'kafka/lib/*' TxnProduce.java BOOTSTRAP TOPIC TRANSACTIONAL_ID VALUE...

import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnProduce {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("transactional.id", args[2]);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 3; i < args.length; i++) {
                producer.send(new ProducerRecord<>(args[1], 0, null, args[i]));
            }
            producer.commitTransaction();
        }
    }
}
