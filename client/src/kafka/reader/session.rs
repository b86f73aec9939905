//! Incremental fetch sessions (KIP-227), sans-IO: what one broker's
//! session holds, and which partitions a Fetch must restate.
//!
//! The first Fetch to a broker lists every partition (a full fetch, session
//! epoch 0) and asks for a session. Once the broker gives one, each Fetch
//! carries the session id and the next epoch and lists only what changed:
//! partitions new to the session, and those whose fetch offset or leader
//! epoch moved (after records were handed out); partitions no longer
//! fetched from this broker go in the forgotten list. The broker answers
//! for every partition of the session, and leaves out those with nothing
//! new. A session error (FETCH_SESSION_ID_NOT_FOUND after a broker restart,
//! INVALID_FETCH_SESSION_EPOCH), a failed request or a switched-off session
//! starts over with a full fetch.

use std::collections::HashMap;
use std::sync::Arc;

/// A partition as the session knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    fetch_offset: i64,
    leader_epoch: i32,
}

/// A partition to fetch: its key, fetch offset and current leader epoch.
pub(super) type Wanted = ((Arc<str>, i32), i64, i32);

/// What one Fetch says about the session.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    /// `session_id` of the request (0: none).
    pub(super) session_id: i32,
    /// `session_epoch` of the request (0: a full fetch that asks for a
    /// session; -1: a full fetch without one).
    pub(super) epoch: i32,
    /// The partitions the request lists, by index into the wanted list.
    pub(super) listed: Vec<usize>,
    /// Partitions to drop from the session.
    pub(super) forgotten: Vec<(Arc<str>, i32)>,
}

impl Plan {
    /// Whether the request restates every partition.
    pub(super) fn is_full(&self) -> bool {
        self.session_id == 0
    }
}

/// One broker's fetch session.
#[derive(Debug, Default)]
pub(super) struct FetchSession {
    id: i32,
    /// The epoch of the next request.
    epoch: i32,
    known: HashMap<(Arc<str>, i32), Known>,
}

impl FetchSession {
    /// The session id, 0 while there is none.
    #[cfg(test)]
    pub(super) fn id(&self) -> i32 {
        self.id
    }

    /// The Fetch for `wanted` (every partition to fetch from this broker
    /// now). The session then holds exactly `wanted`; `enabled: false`
    /// plans a full fetch that asks for no session.
    pub(super) fn plan(&mut self, wanted: &[Wanted], enabled: bool) -> Plan {
        if !enabled {
            self.reset();
            return Plan {
                session_id: 0,
                epoch: -1,
                listed: (0..wanted.len()).collect(),
                forgotten: Vec::new(),
            };
        }
        let full = self.id == 0;
        let mut listed = Vec::new();
        let mut next: HashMap<(Arc<str>, i32), Known> = HashMap::with_capacity(wanted.len());
        for (i, (key, fetch_offset, leader_epoch)) in wanted.iter().enumerate() {
            let now = Known {
                fetch_offset: *fetch_offset,
                leader_epoch: *leader_epoch,
            };
            if full || self.known.get(key) != Some(&now) {
                listed.push(i);
            }
            next.insert(key.clone(), now);
        }
        let forgotten = if full {
            Vec::new()
        } else {
            let mut gone: Vec<(Arc<str>, i32)> = self
                .known
                .keys()
                .filter(|k| !next.contains_key(*k))
                .cloned()
                .collect();
            gone.sort();
            gone
        };
        self.known = next;
        if full {
            Plan {
                session_id: 0,
                epoch: 0,
                listed,
                forgotten,
            }
        } else {
            let epoch = self.epoch;
            self.epoch = if self.epoch == i32::MAX {
                1
            } else {
                self.epoch + 1
            };
            Plan {
                session_id: self.id,
                epoch,
                listed,
                forgotten,
            }
        }
    }

    /// The broker answered a Fetch planned as `plan` with `session_id`:
    /// a full fetch's answer opens the session (if the broker gave one).
    pub(super) fn answered(&mut self, plan: &Plan, session_id: i32) {
        if plan.is_full() && plan.epoch == 0 {
            self.id = session_id;
            self.epoch = 1;
            if session_id == 0 {
                // No session (an older broker, or no room for one): the
                // next fetch is full again.
                self.known.clear();
            }
        }
    }

    /// Starts over: the next Fetch is full. After a session error, a
    /// failed request (its epoch may or may not have counted), or a
    /// partition error whose answer the session may not repeat.
    pub(super) fn reset(&mut self) {
        self.id = 0;
        self.epoch = 0;
        self.known.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(topic: &str, p: i32, offset: i64) -> Wanted {
        ((Arc::from(topic), p), offset, 0)
    }

    #[test]
    fn a_session_lists_only_what_changed_and_forgets_what_is_gone() {
        let mut s = FetchSession::default();
        let wanted = [w("a", 0, 10), w("a", 1, 20), w("b", 0, 0)];
        let first = s.plan(&wanted, true);
        assert!(first.is_full());
        assert_eq!((first.epoch, first.listed.clone()), (0, vec![0, 1, 2]));
        s.answered(&first, 77);
        assert_eq!(s.id(), 77);

        // Nothing moved: an empty incremental fetch at epoch 1.
        let idle = s.plan(&wanted, true);
        assert_eq!((idle.session_id, idle.epoch), (77, 1));
        assert!(idle.listed.is_empty() && idle.forgotten.is_empty());
        s.answered(&idle, 77);

        // a/1 got records (its offset moved), b/0 is paused, c/0 is new.
        let wanted = [w("a", 0, 10), w("a", 1, 25), w("c", 0, 5)];
        let next = s.plan(&wanted, true);
        assert_eq!((next.session_id, next.epoch), (77, 2));
        assert_eq!(next.listed, vec![1, 2]);
        assert_eq!(next.forgotten, vec![(Arc::from("b"), 0)]);

        // A session error: full again, and the new session replaces it.
        s.reset();
        let again = s.plan(&wanted, true);
        assert!(again.is_full());
        assert_eq!(again.listed, vec![0, 1, 2]);
        s.answered(&again, 78);
        assert_eq!(s.plan(&wanted, true).session_id, 78);
    }

    #[test]
    fn no_session_from_the_broker_or_sessions_off_mean_full_fetches() {
        let mut s = FetchSession::default();
        let wanted = [w("a", 0, 1)];
        let first = s.plan(&wanted, true);
        s.answered(&first, 0);
        let second = s.plan(&wanted, true);
        assert!(second.is_full() && second.epoch == 0, "{second:?}");
        let off = s.plan(&wanted, false);
        assert_eq!((off.session_id, off.epoch, off.listed.len()), (0, -1, 1));
        s.answered(&off, 0);
        assert!(s.plan(&wanted, false).is_full());
    }

    #[test]
    fn the_epoch_wraps_to_one() {
        let mut s = FetchSession::default();
        let wanted = [w("a", 0, 1)];
        let first = s.plan(&wanted, true);
        s.answered(&first, 5);
        s.epoch = i32::MAX;
        assert_eq!(s.plan(&wanted, true).epoch, i32::MAX);
        assert_eq!(s.plan(&wanted, true).epoch, 1);
    }
}
