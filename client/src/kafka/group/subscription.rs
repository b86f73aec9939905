//! What a consumer subscribes to: a list of topics, or every topic whose
//! name matches a pattern (a glob, or any predicate), re-evaluated as topics
//! come and go.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use tracing::{debug, info};

use super::membership::{Phase, Shared};
use crate::kafka::cluster::{Metadata, fetch_metadata_from, lock};
use crate::kafka::error::Result;

/// A topic-name pattern for [`Consumer::subscribe_pattern`]: a glob (`*`
/// matches any run of characters, `?` any one character, everything else
/// itself) or a predicate. Internal topics (`__consumer_offsets`) never
/// match.
///
/// [`Consumer::subscribe_pattern`]: crate::kafka::Consumer::subscribe_pattern
#[derive(Clone)]
pub struct TopicPattern {
    description: String,
    /// The glob, for patterns made by [`TopicPattern::glob`].
    glob: Option<String>,
    matcher: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl fmt::Debug for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TopicPattern")
            .field(&self.description)
            .finish()
    }
}

impl TopicPattern {
    /// Topics matching the glob `pattern` (`orders-*`, `events.?.v2`).
    pub fn glob(pattern: &str) -> Self {
        let p: Vec<char> = pattern.chars().collect();
        TopicPattern {
            description: format!("glob {pattern:?}"),
            glob: Some(pattern.to_owned()),
            matcher: Arc::new(move |topic| glob_match(&p, topic)),
        }
    }

    /// Topics for which `predicate` is true; `description` names it in logs.
    pub fn predicate(
        description: impl Into<String>,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        TopicPattern {
            description: description.into(),
            glob: None,
            matcher: Arc::new(predicate),
        }
    }

    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        (self.matcher)(topic)
    }

    /// The glob as a regular expression in the syntax the broker reads
    /// (RE2/J, anchored: the whole name must match), for the consumer
    /// protocol's server-side subscription; `None` for a predicate, which
    /// only the client can evaluate.
    pub(crate) fn to_broker_regex(&self) -> Option<String> {
        let glob = self.glob.as_ref()?;
        let mut re = String::with_capacity(glob.len() + 8);
        for c in glob.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => re.push(c),
                c => {
                    re.push('\\');
                    re.push(c);
                }
            }
        }
        Some(re)
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// Glob matching with `*` and `?`, by the classic greedy scan with one
/// backtrack point: linear in practice, O(n·m) at worst.
fn glob_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// A consumer's subscription.
#[derive(Debug, Clone)]
pub(crate) enum Subscription {
    /// These topics.
    Topics(BTreeSet<String>),
    /// Topics matching the pattern, as last seen in the cluster's topic list.
    Pattern(TopicPattern),
}

impl Subscription {
    /// Whether `topic` belongs to this subscription.
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            Subscription::Topics(t) => t.contains(topic),
            Subscription::Pattern(p) => p.matches(topic),
        }
    }

    /// The topics subscribed now: the list, or the pattern applied to
    /// `all_topics` (name and whether internal).
    pub(crate) fn resolve<'a>(
        &self,
        all_topics: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> BTreeSet<String> {
        match self {
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern(p) => all_topics
                .into_iter()
                .filter(|&(name, internal)| !internal && p.matches(name))
                .map(|(name, _)| name.to_owned())
                .collect(),
        }
    }
}

/// The partition counts of `topics` in `md` (topics it does not know are
/// left out), to notice topics created or grown since a rebalance.
pub(crate) fn partition_counts<'a>(
    md: &Metadata,
    topics: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, i32> {
    topics
        .into_iter()
        .filter_map(|t| {
            let n = md.topic(t)?.partitions.len();
            Some((t.clone(), i32::try_from(n).ok()?))
        })
        .collect()
}

/// Every topic in the cluster: name and whether it is internal.
pub(crate) async fn list_topics(shared: &Shared) -> Result<Vec<(String, bool)>> {
    let response = fetch_metadata_from(shared.coordinator.cluster(), None).await?;
    Ok(response
        .topics
        .into_iter()
        .filter(|t| t.error_code.is_ok())
        .filter_map(|t| Some((t.name?, t.is_internal)))
        .collect())
}

/// Applies a pattern to the cluster's topic list now; returns whether the
/// subscribed topics changed.
pub(crate) async fn refresh_pattern(shared: &Shared, pattern: &TopicPattern) -> Result<bool> {
    let all = list_topics(shared).await?;
    let matched =
        Subscription::Pattern(pattern.clone()).resolve(all.iter().map(|(n, i)| (n.as_str(), *i)));
    let mut topics = lock(&shared.topics);
    if *topics == matched {
        return Ok(false);
    }
    info!(group = %shared.settings.group_id, pattern = %pattern, topics = ?matched,
          "the pattern's topics changed");
    shared.coordinator.cluster().add_topics(matched.iter());
    *topics = matched;
    Ok(true)
}

/// Watches the metadata while the member is Stable: asks for a rebalance
/// when a pattern matches other topics, or when a topic the assignment was
/// made for appears, disappears or gains partitions. Runs until aborted.
pub(crate) async fn watch(shared: Arc<Shared>) {
    let cluster = shared.coordinator.cluster().clone();
    let mut metadata = cluster.subscribe();
    let every = cluster.config().metadata_max_age;
    loop {
        tokio::select! {
            changed = metadata.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(every) => {
                let pattern = match &*lock(&shared.subscription) {
                    Some(Subscription::Pattern(p)) => Some(p.clone()),
                    _ => None,
                };
                if let Some(p) = pattern {
                    match refresh_pattern(&shared, &p).await {
                        Ok(true) => shared.request_rejoin("the subscribed topics changed"),
                        Ok(false) => {}
                        Err(e) => debug!(error = %e, "listing topics for the pattern failed"),
                    }
                }
            }
        }
        if shared.member().phase != Phase::Stable
            || shared.settings.protocol == super::config::GroupProtocol::Consumer
        {
            // The consumer protocol's coordinator watches partition counts.
            continue;
        }
        let md = cluster.metadata();
        let watched = lock(&shared.watched).clone();
        let mut topics: BTreeSet<String> = watched.keys().cloned().collect();
        topics.extend(lock(&shared.topics).iter().cloned());
        let now = partition_counts(&md, topics.iter());
        if now != watched {
            debug!(group = %shared.settings.group_id, before = ?watched, now = ?now,
                   "partition counts changed");
            shared.request_rejoin("the subscribed topics' partitions changed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| TopicPattern::glob(p).matches(t);
        assert!(g("orders-*", "orders-eu"));
        assert!(g("orders-*", "orders-"));
        assert!(!g("orders-*", "order-eu"));
        assert!(g("*", "anything"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g("*.v2", "events.x.v2"));
        assert!(!g("*.v2", "events.x.v3"));
        assert!(g("a*b*c", "a-x-b-y-b-c"));
        assert!(!g("a*b*c", "a-x-b-y-b-d"));
        assert!(g("exact", "exact"));
        assert!(!g("exact", "exactly"));
        assert!(g("**", ""));
    }

    #[test]
    fn globs_become_anchored_broker_regexes() {
        let re = |g: &str| TopicPattern::glob(g).to_broker_regex();
        assert_eq!(re("orders-*").as_deref(), Some("orders-.*"));
        assert_eq!(re("a?c").as_deref(), Some("a.c"));
        // Dots and other regex characters stand for themselves.
        assert_eq!(re("events.*.v2").as_deref(), Some("events\\..*\\.v2"));
        assert_eq!(re("x+(y)").as_deref(), Some("x\\+\\(y\\)"));
        assert_eq!(
            TopicPattern::predicate("any", |_| true).to_broker_regex(),
            None
        );
    }

    #[test]
    fn patterns_skip_internal_topics() {
        let sub = Subscription::Pattern(TopicPattern::predicate("all", |_| true));
        let got = sub.resolve([("orders", false), ("__consumer_offsets", true)]);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec!["orders".to_owned()]
        );
        let listed = Subscription::Topics(["b".to_owned(), "a".to_owned()].into());
        assert_eq!(listed.resolve([]).len(), 2);
        assert_eq!(
            format!("{:?}", TopicPattern::glob("o-*")),
            "TopicPattern(\"glob \\\"o-*\\\"\")"
        );
    }
}
