//! The accumulator's batching, sequence and retry-order rules, without a
//! broker.

use super::*;

fn acc(idempotent: bool) -> Accumulator {
    let mut a = Accumulator::new(
        AccumulatorConfig {
            batch_size: 200,
            batch_max: 200,
            linger: Duration::from_millis(5),
            compression: Compression::None,
            idempotent,
            transactional: false,
        },
        ProducerIdentity { id: 7, epoch: 0 },
    );
    a.set_partition_count("t", 3);
    a
}

fn drain_all(a: &mut Accumulator, now: Instant) -> Vec<(i32, ProducerBatch)> {
    drain_with(a, now, true)
}

/// One drain (leader 1 known for every partition, `room` on its
/// connection, a 60 s delivery timeout); nothing may expire.
fn drain_with(a: &mut Accumulator, now: Instant, room: bool) -> Vec<(i32, ProducerBatch)> {
    let mut out = Vec::new();
    let mut expired = Vec::new();
    a.drain(
        now,
        Duration::from_secs(60),
        5,
        |_, _| Some(1),
        |_| room,
        &mut out,
        &mut expired,
    );
    assert!(expired.is_empty());
    out
}

#[test]
fn keyed_records_follow_murmur2_and_batches_fill_to_batch_size() {
    let mut a = acc(true);
    let now = Instant::now();
    let key = b"order-42";
    let want = partition_for_key(key, 3);
    for i in 0..10 {
        let r = a
            .append("t", None, Some(key), Some(&[0u8; 40]), &[], 1, 80)
            .unwrap();
        assert_eq!(r.partition, want);
        if i == 0 {
            assert!(r.wake);
        }
    }
    // 10 records of ~55 bytes with a 200-byte batch size: several batches.
    let q = a.queue("t", want).unwrap();
    assert!(q.queued.len() >= 2, "{}", q.queued.len());
    // Sequences are contiguous across the closed batches.
    let mut seq = 0;
    for b in &q.queued {
        assert_eq!(b.base_sequence, seq);
        seq += b.records;
    }
    // Nothing is sent before linger for the open batch, but full ones go.
    let out = drain_all(&mut a, now);
    assert_eq!(out.len(), 1, "one batch per partition per drain");
    a.queue("t", want).unwrap().in_flight -= 1;
    let later = now + Duration::from_millis(6);
    let mut total = out.len();
    loop {
        let more = drain_all(&mut a, later);
        if more.is_empty() {
            break;
        }
        total += more.len();
        for (_, b) in more {
            let q = a.queue("t", b.partition).unwrap();
            q.in_flight -= 1;
        }
    }
    assert!(total >= 3);
}

#[test]
fn keyless_records_stick_to_one_partition_per_batch() {
    let mut a = acc(false);
    let first = a.append("t", None, None, Some(b"x"), &[], 1, 40).unwrap();
    for _ in 0..3 {
        let r = a.append("t", None, None, Some(b"x"), &[], 1, 40).unwrap();
        assert_eq!(r.partition, first.partition);
    }
    let explicit = a.append("t", Some(2), None, None, &[], 1, 40).unwrap();
    assert_eq!(explicit.partition, 2);
    assert!(matches!(
        a.append("t", Some(3), None, None, &[], 1, 40),
        Err(Error::UnknownPartition { partition: 3, .. })
    ));
}

#[test]
fn retries_go_first_in_sequence_order_and_epoch_reset_restamps() {
    let mut a = acc(true);
    let now = Instant::now();
    for _ in 0..12 {
        a.append("t", Some(0), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
            .unwrap();
    }
    // As if the broker had acknowledged a first batch: pipelining is on.
    a.queue("t", 0).unwrap().last_acked = 0;
    let mut sent = Vec::new();
    for _ in 0..3 {
        for (_, b) in drain_all(&mut a, now + Duration::from_secs(1)) {
            sent.push(b);
        }
    }
    assert!(sent.len() >= 2);
    let seqs: Vec<i32> = sent.iter().map(|b| b.base_sequence).collect();
    // Requeue in reverse order: the queue must still be sorted.
    for b in sent.into_iter().rev() {
        a.queue("t", 0).unwrap().in_flight -= 1;
        a.requeue(b, now);
    }
    let q = a.queue("t", 0).unwrap();
    assert!(q.retrying);
    let requeued: Vec<i32> = q
        .queued
        .iter()
        .take(seqs.len())
        .map(|b| b.base_sequence)
        .collect();
    assert_eq!(requeued, seqs);
    // While retrying, one batch at a time.
    let out = drain_all(&mut a, now + Duration::from_secs(1));
    assert_eq!(out.len(), 1);
    assert!(drain_all(&mut a, now + Duration::from_secs(1)).is_empty());
    // An epoch bump renumbers what is queued from 0.
    let (_, mut b) = out.into_iter().next().unwrap();
    a.queue("t", 0).unwrap().in_flight -= 1;
    b.finish().unwrap();
    a.requeue(b, now);
    a.reset_sequences(ProducerIdentity { id: 7, epoch: 1 })
        .unwrap();
    let q = a.queue("t", 0).unwrap();
    let mut seq = 0;
    for b in &q.queued {
        assert_eq!(b.base_sequence, seq);
        assert_eq!(b.identity.epoch, 1);
        seq += b.records;
    }
    assert_eq!(q.next_sequence, seq);
}

#[test]
fn one_batch_in_flight_until_the_first_ack() {
    let mut a = acc(true);
    let now = Instant::now();
    for _ in 0..12 {
        a.append("t", Some(1), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
            .unwrap();
    }
    let later = now + Duration::from_secs(1);
    assert_eq!(drain_all(&mut a, later).len(), 1);
    assert!(
        drain_all(&mut a, later).is_empty(),
        "no second batch before an ack"
    );
    let q = a.queue("t", 1).unwrap();
    q.in_flight -= 1;
    q.last_acked = 2;
    assert_eq!(drain_all(&mut a, later).len(), 1);
    assert_eq!(
        drain_all(&mut a, later).len(),
        1,
        "pipelined after the first ack"
    );
}

#[test]
fn unsent_batches_taken_give_their_sequences_back_unless_one_was_sent() {
    let mut a = acc(true);
    let now = Instant::now();
    for _ in 0..12 {
        a.append("t", Some(0), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
            .unwrap();
    }
    a.append("t", Some(1), Some(b"k"), Some(b"v"), &[], 1, 40)
        .unwrap();
    // One batch per partition goes out (one at a time before the first
    // ack); partition 1 gets a record more after it.
    let later = now + Duration::from_secs(1);
    let mut sent = drain_all(&mut a, later);
    sent.sort_by_key(|(_, b)| b.partition);
    assert_eq!(sent.len(), 2);
    a.append("t", Some(1), Some(b"k"), Some(b"v"), &[], 1, 40)
        .unwrap();
    let in_flight_0 = sent[0].1.records;
    assert!(in_flight_0 < 12);

    // The abort takes everything else, sequences and all.
    let taken = a.take_unsent();
    let records: i32 = taken.iter().map(|b| b.records).sum();
    assert_eq!(records, 12 - in_flight_0 + 1);
    assert!(taken.iter().all(|b| b.base_sequence == NO_SEQUENCE));
    assert_eq!(a.queue("t", 0).unwrap().next_sequence, in_flight_0);
    assert_eq!(a.queue("t", 1).unwrap().next_sequence, 1);
    assert!(a.take_unsent().is_empty());
    // The next batch follows the one in flight.
    a.append("t", Some(0), Some(b"k"), Some(b"v"), &[], 1, 40)
        .unwrap();
    a.flushing += 1;
    assert!(drain_all(&mut a, later).is_empty(), "one in flight");
    let (_, first) = sent.remove(0);
    a.queue("t", 0).unwrap().in_flight -= 1;
    a.requeue(first, later);
    // A batch that went out (now waiting for a retry) keeps its
    // sequences, and so does its partition: failing it leaves a gap
    // only an epoch bump closes.
    let taken = a.take_unsent();
    let seqs: Vec<(u32, i32)> = taken
        .iter()
        .filter(|b| b.partition == 0)
        .map(|b| (b.attempts, b.base_sequence))
        .collect();
    assert_eq!(seqs, [(1, 0), (0, in_flight_0)]);
    assert_eq!(a.queue("t", 0).unwrap().next_sequence, in_flight_0 + 1);
}

/// A drain with `room` for the leader's connection, and the batches'
/// record counts.
fn drain_with_room(a: &mut Accumulator, now: Instant, room: bool) -> Vec<i32> {
    let out = drain_with(a, now, room);
    for (_, b) in &out {
        a.queue("t", b.partition).unwrap().in_flight -= 1;
    }
    out.iter().map(|(_, b)| b.records).collect()
}

#[test]
fn a_backlog_grows_one_batch_up_to_batch_max_while_the_leader_is_busy() {
    let mut a = acc(true);
    a.config.batch_max = 1_000;
    a.queue("t", 0).unwrap().last_acked = 0;
    let now = Instant::now();
    let later = now + Duration::from_secs(1);
    // Past batch_size (200 bytes) the sender is woken once.
    let wakes: Vec<bool> = (0..5)
        .map(|_| {
            a.append("t", Some(0), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
                .unwrap()
                .wake
        })
        .collect();
    assert_eq!(wakes, [true, false, true, false, false]);
    // The leader's connection has no free slot: the ready batch stays
    // open and keeps taking records, past batch_size.
    assert!(drain_with_room(&mut a, later, false).is_empty());
    for _ in 0..5 {
        a.append("t", Some(0), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
            .unwrap();
    }
    let q = a.queue("t", 0).unwrap();
    assert!(q.queued.is_empty(), "nothing closed below batch_max");
    assert!(q.open.as_ref().unwrap().builder.encoded_size() > 200);
    // A slot frees: the ten records go as one batch.
    assert_eq!(drain_with_room(&mut a, later, true), [10]);
    // Past batch_max a batch is closed at once and waits its turn; the
    // next one starts behind it, with the following sequences.
    for _ in 0..20 {
        a.append("t", Some(0), Some(b"k"), Some(&[1u8; 50]), &[], 1, 80)
            .unwrap();
    }
    let q = a.queue("t", 0).unwrap();
    assert_eq!(q.queued.len(), 1);
    let first = q.queued[0].records;
    assert!(first < 20 && q.queued[0].base_sequence == 10);
    assert_eq!(drain_with_room(&mut a, later, true), [first]);
    assert_eq!(drain_with_room(&mut a, later, true), [20 - first]);
}

#[test]
fn an_open_batch_held_back_expires_at_the_delivery_timeout() {
    let mut a = acc(true);
    let now = Instant::now();
    a.append("t", Some(2), Some(b"k"), Some(b"v"), &[], 1, 40)
        .unwrap();
    let mut out = Vec::new();
    let mut expired = Vec::new();
    let drained = a.drain(
        now + Duration::from_secs(1),
        Duration::from_secs(60),
        5,
        |_, _| Some(1),
        |_| false,
        &mut out,
        &mut expired,
    );
    assert!(out.is_empty() && expired.is_empty());
    assert!(drained.next.unwrap() > now + Duration::from_secs(59));
    a.drain(
        now + Duration::from_secs(61),
        Duration::from_secs(60),
        5,
        |_, _| Some(1),
        |_| false,
        &mut out,
        &mut expired,
    );
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].partition, 2);
}

#[test]
fn sequence_numbers_wrap() {
    assert_eq!(seq_add(i32::MAX, 1), 0);
    assert_eq!(seq_add(i32::MAX - 1, 3), 1);
    assert_eq!(seq_add(5, 3), 8);
}
