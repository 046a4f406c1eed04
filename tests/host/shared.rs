//! What Envoy's worker threads share for one `vm_id`: shared data with compare-and-swap, shared
//! queues, and the metrics store. A `Host` owns it behind a mutex and every VM created from that
//! host reaches it, the way every worker's VM reaches the process-wide copy in Envoy.

use std::collections::{HashMap, VecDeque};

use super::metrics::Metrics;
use super::types::Status;

#[derive(Debug, Default)]
pub(crate) struct SharedState {
    pub(crate) data: SharedData,
    pub(crate) queues: SharedQueues,
    pub(crate) metrics: Metrics,
}

/// Key-value data with a version (`cas`) per key.
#[derive(Debug)]
pub(crate) struct SharedData {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl Default for SharedData {
    fn default() -> Self {
        SharedData {
            entries: HashMap::new(),
            next_cas: 1,
        }
    }
}

impl SharedData {
    pub(crate) fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.entries.get(key).cloned()
    }

    /// How many keys there are, and the bytes of every key and value together.
    pub(crate) fn size(&self) -> (usize, usize) {
        let bytes = self
            .entries
            .iter()
            .map(|(k, (v, _))| k.len() + v.len())
            .sum();
        (self.entries.len(), bytes)
    }

    /// Envoy's rules: `cas` 0 writes unconditionally; any other `cas` must equal the key's current
    /// one or the write fails with CasMismatch; a key that does not exist yet is written whatever
    /// the `cas`. Every write gives the key a new, never-zero `cas`.
    pub(crate) fn set(&mut self, key: &str, value: Vec<u8>, cas: u32) -> Result<(), Status> {
        if let Some((_, current)) = self.entries.get(key)
            && cas != 0
            && cas != *current
        {
            return Err(Status::CasMismatch);
        }
        let new_cas = self.next_cas;
        self.next_cas = self.next_cas.checked_add(1).unwrap_or(1);
        self.entries.insert(key.to_string(), (value, new_cas));
        Ok(())
    }
}

/// Which VM, and which root context in it, hears about items enqueued on a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registrant {
    pub(crate) vm: u32,
    pub(crate) context_id: u32,
}

#[derive(Debug)]
struct Queue {
    registrant: Registrant,
    items: VecDeque<Vec<u8>>,
}

/// Queues are named per `vm_id`; the last VM to register a name is the one notified.
#[derive(Debug, Default)]
pub(crate) struct SharedQueues {
    tokens: HashMap<(String, String), u32>,
    queues: HashMap<u32, Queue>,
    last_token: u32,
    /// `proxy_on_queue_ready` calls owed to VMs: (registrant, queue token). Envoy posts these to the
    /// registrant's worker thread; here each VM delivers its own when the test asks it to.
    ready: Vec<(Registrant, u32)>,
}

impl SharedQueues {
    pub(crate) fn register(&mut self, vm_id: &str, name: &str, registrant: Registrant) -> u32 {
        let key = (vm_id.to_string(), name.to_string());
        if let Some(&token) = self.tokens.get(&key) {
            self.queues
                .get_mut(&token)
                .expect("registered queue")
                .registrant = registrant;
            return token;
        }
        self.last_token += 1;
        let token = self.last_token;
        self.tokens.insert(key, token);
        self.queues.insert(
            token,
            Queue {
                registrant,
                items: VecDeque::new(),
            },
        );
        token
    }

    pub(crate) fn resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.tokens
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
    }

    pub(crate) fn enqueue(&mut self, token: u32, item: Vec<u8>) -> Result<(), Status> {
        let queue = self.queues.get_mut(&token).ok_or(Status::NotFound)?;
        queue.items.push_back(item);
        self.ready.push((queue.registrant, token));
        Ok(())
    }

    pub(crate) fn dequeue(&mut self, token: u32) -> Result<Vec<u8>, Status> {
        let queue = self.queues.get_mut(&token).ok_or(Status::NotFound)?;
        queue.items.pop_front().ok_or(Status::Empty)
    }

    /// Takes the notifications owed to `vm`, oldest first.
    pub(crate) fn take_ready(&mut self, vm: u32) -> Vec<(u32, u32)> {
        let (mine, others): (Vec<_>, Vec<_>) = self
            .ready
            .drain(..)
            .partition(|(registrant, _)| registrant.vm == vm);
        self.ready = others;
        mine.into_iter()
            .map(|(registrant, token)| (registrant.context_id, token))
            .collect()
    }
}
