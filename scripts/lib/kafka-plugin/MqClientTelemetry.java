// A metrics reporter for the test brokers that receives KIP-714 client
// telemetry: the broker subscribes clients to metrics only when a reporter
// that exports client telemetry is configured. Each pushed payload is
// decoded (OTLP MetricsData, with the protobuf classes kafka-clients
// shades) and appended to the file `mq.client.telemetry.file` names:
//
//   payload <client id> <client instance id> <content type> terminating=<bool> metrics=<n>
//   metric <client id> <name> <value> <attr=value,...>
//
// (the client id is the one in the PushTelemetry request's header)
//
// Compiled by scripts/brokers at start; on the broker's class path.

import java.io.FileWriter;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.apache.kafka.shaded.io.opentelemetry.proto.common.v1.KeyValue;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.Metric;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.MetricsData;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.NumberDataPoint;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ResourceMetrics;
import org.apache.kafka.shaded.io.opentelemetry.proto.metrics.v1.ScopeMetrics;

public class MqClientTelemetry implements MetricsReporter, ClientTelemetryExporterProvider {
    private volatile String file;

    @Override
    public void configure(Map<String, ?> configs) {
        Object f = configs.get("mq.client.telemetry.file");
        file = f == null ? null : f.toString();
    }

    @Override public void init(List<KafkaMetric> metrics) {}
    @Override public void metricChange(KafkaMetric metric) {}
    @Override public void metricRemoval(KafkaMetric metric) {}
    @Override public void close() {}

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this::export;
    }

    private static String attrs(List<KeyValue> kvs) {
        return kvs.stream()
            .map(kv -> kv.getKey() + "=" + kv.getValue().getStringValue())
            .collect(Collectors.joining(","));
    }

    private static String value(NumberDataPoint p) {
        return p.getValueCase() == NumberDataPoint.ValueCase.AS_INT
            ? Long.toString(p.getAsInt())
            : Double.toString(p.getAsDouble());
    }

    private synchronized void export(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        if (file == null) return;
        String id = context.authorizableRequestContext().clientId();
        String instance = payload.clientInstanceId().toString();
        StringBuilder out = new StringBuilder();
        int n = 0;
        try {
            java.nio.ByteBuffer data = payload.data().duplicate();
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            MetricsData md = MetricsData.parseFrom(bytes);
            for (ResourceMetrics rm : md.getResourceMetricsList()) {
                for (ScopeMetrics sm : rm.getScopeMetricsList()) {
                    for (Metric m : sm.getMetricsList()) {
                        List<NumberDataPoint> points = m.hasSum() ? m.getSum().getDataPointsList()
                            : m.hasGauge() ? m.getGauge().getDataPointsList() : List.of();
                        for (NumberDataPoint p : points) {
                            out.append("metric ").append(id).append(' ').append(m.getName()).append(' ')
                                .append(value(p)).append(' ').append(attrs(p.getAttributesList())).append('\n');
                            n++;
                        }
                    }
                }
            }
        } catch (Exception e) {
            out.append("undecodable ").append(id).append(' ').append(e).append('\n');
        }
        String head = "payload " + id + " " + instance + " " + payload.contentType() + " terminating="
            + payload.isTerminating() + " metrics=" + n + "\n";
        try (FileWriter w = new FileWriter(file, true)) {
            w.write(head);
            w.write(out.toString());
        } catch (IOException e) {
            // The broker goes on; the test sees no line.
        }
    }
}
