// franz-go's side of the kafka_cluster bench
// (benches/benches/kafka_cluster/): the same produce workload as the Rust
// clients, run as a child process of the bench, which creates and deletes
// the topic and measures this process's CPU time (wait4).
//
//	franz-bench produce <topic> <records>
//	franz-bench latency <topic> <seconds>
//
// The brokers come from KAFKA_BOOTSTRAP (host:port,...), which the bench
// sets. franz-go runs with its defaults (idempotence on, its own buffering
// and partitioner) plus acks=all and a linger of 5 ms.
//
// produce: 100-byte values, 16-byte keys, every record given to Produce
// with a callback and counted by a WaitGroup; the clock stops when every
// callback has run. Prints elapsed_ns=<n>.
//
// latency: one record every 10 ms, 100 per second of <seconds>, the time from
// Produce to its callback recorded for each. Prints
// records=<n> p50_ms=<x> p99_ms=<y> max_ms=<z>.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 4 {
		fail(fmt.Errorf("usage: %s produce|latency <topic> <records|seconds>", os.Args[0]))
	}
	mode, topic := os.Args[1], os.Args[2]
	count, err := strconv.ParseUint(os.Args[3], 10, 64)
	if err != nil {
		fail(err)
	}
	switch mode {
	case "produce":
		produce(topic, count)
	case "latency":
		latency(topic, time.Duration(count)*time.Second)
	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "franz-bench:", err)
	os.Exit(1)
}

func client(topic string) *kgo.Client {
	bootstrap := os.Getenv("KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		bootstrap = "127.0.0.1:9092"
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		fail(err)
	}
	return cl
}

// value is the 100-byte JSON document of the Rust bench's value().
func value() []byte {
	v := []byte(`{"order":12345,"status":"created","amount":4200,"currency":"EUR","note":"`)
	for len(v) < 98 {
		v = append(v, 'x')
	}
	return append(v, '"', '}')
}

// key is i % 100000, zero-padded to 16 digits, as the Rust clients'
// format!("{:016}", i % 100_000).
func key(i uint64) []byte {
	k := make([]byte, 16)
	n := i % 100000
	for j := 15; j >= 0; j-- {
		k[j] = byte('0' + n%10)
		n /= 10
	}
	return k
}

func produce(topic string, n uint64) {
	v := value()
	ctx := context.Background()
	start := time.Now()
	cl := client(topic)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	wg.Add(int(n))
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for i := uint64(0); i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Key: key(i), Value: v}, done)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		fail(firstErr)
	}
	cl.Close()
	fmt.Printf("elapsed_ns=%d\n", elapsed.Nanoseconds())
}

func latency(topic string, d time.Duration) {
	v := value()
	ctx := context.Background()
	cl := client(topic)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	// Record i is due at start + i * 10 ms; a late one goes at once (as
	// tokio's interval in the Rust children catches up).
	start := time.Now()
	records := uint64(d / (10 * time.Millisecond))
	for i := uint64(0); i < records; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
		wg.Add(1)
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Key: key(i), Value: v}, func(_ *kgo.Record, err error) {
			took := time.Since(sent)
			mu.Lock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			lat = append(lat, took)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	cl.Close()
	if firstErr != nil {
		fail(firstErr)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	ms := func(t time.Duration) float64 { return float64(t.Nanoseconds()) / 1e6 }
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return lat[i]
	}
	fmt.Printf("records=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		len(lat), ms(pct(0.50)), ms(pct(0.99)), ms(lat[len(lat)-1]))
}
