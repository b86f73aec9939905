//! The target (exchange and routing key) of the newest queued publish,
//! kept in place so that a stream of publishes to one target shares it.

/// The exchange and routing key of the newest queued publish, copied in
/// place: compared on every push, they stay in the publisher's cache
/// (strings on the heap shared cache lines with the driver's data).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct LastTarget {
    /// Exchange, then routing key (each at most 255 bytes).
    bytes: [u8; 512],
    exchange_len: usize,
    key_len: usize,
    set: bool,
}

impl Default for LastTarget {
    fn default() -> Self {
        LastTarget {
            bytes: [0; 512],
            exchange_len: 0,
            key_len: 0,
            set: false,
        }
    }
}

impl LastTarget {
    pub(crate) fn is(&self, exchange: &str, routing_key: &str) -> bool {
        let (e, k) = (self.exchange_len, self.key_len);
        self.set
            && exchange.len() == e
            && routing_key.len() == k
            && self.bytes.get(..e) == Some(exchange.as_bytes())
            && self.bytes.get(e..e + k) == Some(routing_key.as_bytes())
    }

    /// Remembers a target; one that does not fit (longer than a short
    /// string, refused before it gets here) is forgotten instead.
    pub(crate) fn set(&mut self, exchange: &str, routing_key: &str) {
        let (e, k) = (exchange.len(), routing_key.len());
        self.set = false;
        let Some((head, tail)) = self.bytes.split_at_mut_checked(e) else {
            return;
        };
        let (Some(tail), Some(head)) = (tail.get_mut(..k), head.get_mut(..e)) else {
            return;
        };
        head.copy_from_slice(exchange.as_bytes());
        tail.copy_from_slice(routing_key.as_bytes());
        (self.exchange_len, self.key_len, self.set) = (e, k, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_target_compares_in_place_and_forgets_what_does_not_fit() {
        let mut t = LastTarget::default();
        assert!(!t.is("", ""));
        t.set("", "orders");
        assert!(t.is("", "orders"));
        assert!(!t.is("orders", ""));
        assert!(!t.is("", "order"));
        t.set("x", "y");
        assert!(t.is("x", "y") && !t.is("", "orders"));
        let long = "k".repeat(600);
        t.set("x", &long);
        assert!(!t.is("x", &long) && !t.is("x", "y"));
    }
}
