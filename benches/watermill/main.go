// Watermill side by side with mq-service (benches/benches/service.rs): the
// same two consume workloads against the same brokers, measured the same
// way.
//
//   - noop: concurrency 1, a handler that decodes the 100-byte JSON
//     payload (what mq-service's Json codec does before its handler) and
//     does nothing else. RabbitMQ: one Router handler on one subscription
//     with prefetch 1,000 (mq-service: max_in_flight 1,000). Kafka: one
//     Router handler on a consumer group over a 6-partition topic (sarama
//     marks each acked message; offsets auto-committed every second,
//     sarama's default).
//   - slow16: 16 workers, each message handled by time.Sleep(1 ms).
//     RabbitMQ: Watermill's amqp subscriber hands out one message at a
//     time per subscription (it waits for the ack), so 16 Router handlers
//     on the same queue, each its own subscription and channel with
//     prefetch 4 (64 in all, as mq-service's default max_in_flight for 16
//     workers). Kafka: one handler on a 16-partition topic; the consumer
//     group claims every partition and each claim hands out one message at
//     a time, and the Router runs each message in its own goroutine, so 16
//     run at once.
//
// Each iteration fills the queue (or uses the topic filled once) with
// what Watermill's publisher sends (the message UUID header, and a
// traceparent header as mq-service's publisher adds), starts the
// subscriber and Router, and times the messages after the first `warm`:
// the handler reads the clock and getrusage (user + system, the whole
// process; the brokers are other processes) at message `warm` and at
// message `warm + n`. Lines start with REPORT, summed over the
// iterations like the Rust bench's.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	messageUUID = "6f1c2b0e9d8a4c3e8b7a6d5c4b3a2918"
	window      = 1000
)

// Order is the payload, 100 bytes of JSON (the same document as the Rust
// bench's).
type Order struct {
	ID       uint64 `json:"id"`
	Status   string `json:"status"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Note     string `json:"note"`
}

func body() []byte {
	o := Order{ID: 12345, Status: "created", Amount: 4200, Currency: "EUR"}
	b, _ := json.Marshal(o)
	o.Note = strings.Repeat("x", 100-len(b))
	b, _ = json.Marshal(o)
	if len(b) != 100 {
		panic(fmt.Sprintf("payload is %d bytes", len(b)))
	}
	return b
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("order-%05d", i)
	}
	return out
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- the probe

func cpu() (user, system time.Duration) {
	var ru syscall.Rusage
	must(syscall.Getrusage(syscall.RUSAGE_SELF, &ru), "getrusage")
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

type sample struct {
	messages  uint64
	wall, cpu time.Duration
	system    time.Duration
}

type probe struct {
	count     atomic.Uint64
	warm, end uint64
	t0        time.Time
	u0, s0    time.Duration
	result    sample
	done      chan struct{}
}

func newProbe(warm, n uint64) *probe {
	return &probe{warm: warm, end: warm + n, done: make(chan struct{})}
}

func (p *probe) hit() {
	c := p.count.Add(1)
	switch c {
	case p.warm:
		p.u0, p.s0 = cpu()
		p.t0 = time.Now()
	case p.end:
		u, s := cpu()
		now := time.Now()
		p.result = sample{
			messages: p.end - p.warm,
			wall:     now.Sub(p.t0),
			cpu:      (u - p.u0) + (s - p.s0),
			system:   s - p.s0,
		}
		close(p.done)
	}
}

type tally struct{ sample }

func (t *tally) add(s sample) {
	t.messages += s.messages
	t.wall += s.wall
	t.cpu += s.cpu
	t.system += s.system
}

func (t *tally) report(name string) {
	if t.messages == 0 {
		return
	}
	n := float64(t.messages)
	fmt.Printf("REPORT %s: %d messages, %.0f msg/s, client CPU %.2f µs/msg (system %.2f)\n",
		name, t.messages, n/t.wall.Seconds(), t.cpu.Seconds()*1e6/n, t.system.Seconds()*1e6/n)
}

func handler(p *probe, sleep time.Duration) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		if sleep > 0 {
			time.Sleep(sleep)
		}
		var o Order
		if err := json.Unmarshal(msg.Payload, &o); err != nil {
			return err
		}
		p.hit()
		return nil
	}
}

// runRouter runs a Router with `handlers` handlers over `sub` until the
// probe has seen every message, then closes it.
func runRouter(sub message.Subscriber, topic string, handlers int, p *probe, sleep time.Duration) sample {
	logger := watermill.NopLogger{}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	must(err, "router")
	for i := 0; i < handlers; i++ {
		router.AddConsumerHandler(fmt.Sprintf("h%d", i), topic, sub, handler(p, sleep))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = router.Run(ctx)
	}()
	<-p.done
	_ = router.Close()
	cancel()
	wg.Wait()
	return p.result
}

// ---------------------------------------------------------------- RabbitMQ

type rabbit struct {
	uri  string
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newRabbit(uri string) *rabbit {
	conn, err := amqp.Dial(uri)
	must(err, "amqp dial")
	ch, err := conn.Channel()
	must(err, "amqp channel")
	must(ch.Confirm(false), "confirm.select")
	return &rabbit{uri: uri, conn: conn, ch: ch}
}

func (r *rabbit) declare(exchange, queue string) {
	must(r.ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil), "exchange")
	_, err := r.ch.QueueDeclare(queue, true, false, false, false, nil)
	must(err, "queue")
	must(r.ch.QueueBind(queue, "#", exchange, false, nil), "bind")
}

// fill empties the queue and publishes n messages as Watermill's publisher
// would, with confirms, 1,000 outstanding at most.
func (r *rabbit) fill(exchange, queue string, ks []string, n int) {
	_, err := r.ch.QueuePurge(queue, false)
	must(err, "purge")
	b := body()
	ctx := context.Background()
	pending := make([]*amqp.DeferredConfirmation, 0, window)
	for i := 0; i < n; i++ {
		dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, ks[i%len(ks)], false, false, amqp.Publishing{
			Headers:     amqp.Table{wamqp.MessageUUIDHeaderKey: messageUUID, "traceparent": traceparent},
			ContentType: "application/json",
			Body:        b,
		})
		must(err, "publish")
		pending = append(pending, dc)
		if len(pending) >= window {
			if !pending[0].Wait() {
				must(fmt.Errorf("nacked"), "publish")
			}
			pending = pending[1:]
		}
	}
	for _, dc := range pending {
		if !dc.Wait() {
			must(fmt.Errorf("nacked"), "publish")
		}
	}
}

func (r *rabbit) consume(exchange, queue string, handlers, prefetch int, p *probe, sleep time.Duration) sample {
	cfg := wamqp.NewDurableTopicConfig(r.uri, exchange, queue)
	cfg.Exchange.Durable = true
	cfg.Consume.Qos.PrefetchCount = prefetch
	sub, err := wamqp.NewSubscriber(cfg, watermill.NopLogger{})
	must(err, "watermill amqp subscriber")
	// The topic is the binding key here ("#", as the queue is bound).
	s := runRouter(sub, "#", handlers, p, sleep)
	_ = sub.Close()
	return s
}

func (r *rabbit) cleanup(pairs ...[2]string) {
	for _, p := range pairs {
		_, _ = r.ch.QueueDelete(p[1], false, false, false)
		_ = r.ch.ExchangeDelete(p[0], false, false)
	}
	_ = r.conn.Close()
}

// ---------------------------------------------------------------- Kafka

func saramaConfig() *sarama.Config {
	cfg := wkafka.DefaultSaramaSubscriberConfig()
	// Kafka 4 serves no protocol versions from before 2.1 (KIP-896).
	cfg.Version = sarama.V3_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	return cfg
}

func kafkaFill(brokers []string, topic string, ks []string, n int) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	producer, err := sarama.NewSyncProducer(brokers, cfg)
	must(err, "sarama producer")
	b := body()
	batch := make([]*sarama.ProducerMessage, 0, window)
	for i := 0; i < n; i++ {
		batch = append(batch, &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(ks[i%len(ks)]),
			Value: sarama.ByteEncoder(b),
			Headers: []sarama.RecordHeader{
				{Key: []byte(wkafka.UUIDHeaderKey), Value: []byte(messageUUID)},
				{Key: []byte("traceparent"), Value: []byte(traceparent)},
			},
		})
		if len(batch) == window || i == n-1 {
			must(producer.SendMessages(batch), "produce")
			batch = batch[:0]
		}
	}
	must(producer.Close(), "producer close")
}

var groups atomic.Uint64

func kafkaConsume(brokers []string, topic string, p *probe, sleep time.Duration) sample {
	sub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{
		Brokers:               brokers,
		Unmarshaler:           wkafka.DefaultMarshaler{},
		OverwriteSaramaConfig: saramaConfig(),
		ConsumerGroup:         fmt.Sprintf("g.watermill-%d-%d", os.Getpid(), groups.Add(1)),
	}, watermill.NopLogger{})
	must(err, "watermill kafka subscriber")
	s := runRouter(sub, topic, 1, p, sleep)
	_ = sub.Close()
	return s
}

// ---------------------------------------------------------------- main

func main() {
	amqpURI := flag.String("amqp", "amqp://guest:guest@127.0.0.1:5672/%2f", "RabbitMQ URI")
	kafkaBrokers := flag.String("kafka", "127.0.0.1:9092", "Kafka bootstrap, comma-separated")
	only := flag.String("only", "", "amqp or kafka: one broker only")
	iterations := flag.Int("iterations", 5, "iterations per workload (after one warm-up iteration)")
	flag.Parse()

	const (
		amqpNoop  = 50_000
		kafkaNoop = 200_000
		slow      = 10_000
		warm      = 2_000
		slowWarm  = warm / 4
		workers   = 16
	)
	noopKeys, slowKeys := keys(1024), keys(4096)
	pid := os.Getpid()

	if *only == "" || *only == "amqp" {
		r := newRabbit(*amqpURI)
		noop := [2]string{fmt.Sprintf("x.wm-noop-%d", pid), fmt.Sprintf("x.wm-noop-%d.q", pid)}
		slowQ := [2]string{fmt.Sprintf("x.wm-slow-%d", pid), fmt.Sprintf("x.wm-slow-%d.q", pid)}
		r.declare(noop[0], noop[1])
		r.declare(slowQ[0], slowQ[1])

		var t tally
		for i := 0; i <= *iterations; i++ {
			r.fill(noop[0], noop[1], noopKeys, warm+amqpNoop)
			s := r.consume(noop[0], noop[1], 1, 1000, newProbe(warm, amqpNoop), 0)
			if i > 0 {
				t.add(s)
			}
		}
		t.report("watermill consume-noop/amqp")

		t = tally{}
		for i := 0; i <= *iterations; i++ {
			r.fill(slowQ[0], slowQ[1], slowKeys, slowWarm+slow)
			s := r.consume(slowQ[0], slowQ[1], workers, 4, newProbe(slowWarm, slow), time.Millisecond)
			if i > 0 {
				t.add(s)
			}
		}
		t.report("watermill slow16/amqp")
		fmt.Printf("REPORT watermill slow16/amqp: %.0f%% of 16,000\n",
			float64(t.messages)/t.wall.Seconds()*100/16000)
		r.cleanup(noop, slowQ)
	}

	if *only == "" || *only == "kafka" {
		brokers := strings.Split(*kafkaBrokers, ",")
		admin, err := sarama.NewClusterAdmin(brokers, saramaConfig())
		must(err, "sarama admin")
		noop := fmt.Sprintf("t.wm-noop-%d", pid)
		slowT := fmt.Sprintf("t.wm-slow-%d", pid)
		must(admin.CreateTopic(noop, &sarama.TopicDetail{NumPartitions: 6, ReplicationFactor: 1}, false), "create topic")
		must(admin.CreateTopic(slowT, &sarama.TopicDetail{NumPartitions: 16, ReplicationFactor: 1}, false), "create topic")
		kafkaFill(brokers, noop, noopKeys, warm+kafkaNoop)
		kafkaFill(brokers, slowT, slowKeys, slowWarm+slow)

		var t tally
		for i := 0; i <= *iterations; i++ {
			s := kafkaConsume(brokers, noop, newProbe(warm, kafkaNoop), 0)
			if i > 0 {
				t.add(s)
			}
		}
		t.report("watermill consume-noop/kafka")

		t = tally{}
		for i := 0; i <= *iterations; i++ {
			s := kafkaConsume(brokers, slowT, newProbe(slowWarm, slow), time.Millisecond)
			if i > 0 {
				t.add(s)
			}
		}
		t.report("watermill slow16/kafka")
		fmt.Printf("REPORT watermill slow16/kafka: %.0f%% of 16,000\n",
			float64(t.messages)/t.wall.Seconds()*100/16000)
		_ = admin.DeleteTopic(noop)
		_ = admin.DeleteTopic(slowT)
		_ = admin.Close()
	}
}
