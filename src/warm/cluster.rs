//! A Redis Cluster: the connection that retires itself when its view goes stale, the
//! cluster's own list of nodes, and keys grouped by hash slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::RedisError;

use super::{Tracking, Warm};
use crate::error::Result;

/// The cluster connection, and what it takes to make a new one.
///
/// The client (redis 1.8.1, and 1.3 and 1.7 alike) can stall for good after a master
/// dies: once its replica has taken over, and `redis-cli -c` reads every key again,
/// every command on the old connection still times out (seen here with the crate alone,
/// for 50 s). Its slot refresh starts and never finishes. So a command that times out,
/// or fails in a way that says the connection's view of the cluster may be out of date
/// ([`stale_view`]), retires the connection, and the next command gets a fresh one, which
/// reads the slot map anew. A connection made in such trouble may have read a map that
/// is already outdated and stall at its next refresh, so one more is made once a
/// `patience` has passed without trouble.
pub(super) struct ClusterLink {
    client: ClusterClient,
    config: ClusterConfig,
    /// Connections are replaced at most once per `patience` (`commandTimeout`), so a slow
    /// cluster does not cause a reconnect storm.
    patience: Duration,
    state: Mutex<LinkState>,
    /// A new connection has no tracking, and misses what the old one would have heard.
    tracking: Arc<Tracking>,
}

struct LinkState {
    connection: ClusterConnection,
    made: Instant,
    /// When to make the calm-weather connection, after trouble.
    remake_at: Option<Instant>,
}

impl ClusterLink {
    pub(super) fn new(
        client: ClusterClient,
        config: ClusterConfig,
        patience: Duration,
        tracking: Arc<Tracking>,
    ) -> ClusterLink {
        let connection = client.get_pending_async_connection_with_config(config.clone());
        let state = Mutex::new(LinkState { connection, made: Instant::now(), remake_at: None });
        ClusterLink { client, config, patience, state, tracking }
    }

    pub(super) fn connection(&self) -> ClusterConnection {
        let mut state = self.state();
        if state.remake_at.is_some_and(|at| at <= Instant::now()) {
            state.remake_at = None;
            self.remake(&mut state);
        }
        state.connection.clone()
    }

    pub(super) fn renew(&self) {
        let mut state = self.state();
        if state.made.elapsed() >= self.patience {
            self.remake(&mut state);
        }
        state.remake_at = Some(Instant::now() + self.patience);
    }

    // A panic elsewhere while holding the lock must not take every later command down too.
    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remake(&self, state: &mut LinkState) {
        state.connection =
            self.client.get_pending_async_connection_with_config(self.config.clone());
        state.made = Instant::now();
        self.tracking.lost();
    }
}

/// One node as the cluster announces it (`CLUSTER NODES`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterNode {
    pub host: String,
    pub port: u16,
    pub master: bool,
    /// Owns hash slots: its keys exist nowhere else, so it must answer.
    pub serves_slots: bool,
    /// The cluster agrees it is down (`fail`, not the suspicion `fail?`).
    pub failed: bool,
}

impl Warm {
    /// The nodes the cluster knows, from any node's `CLUSTER NODES`.
    pub(super) async fn cluster_nodes(&self) -> Result<Vec<ClusterNode>> {
        let text: String = self.query(redis::cmd("CLUSTER").arg("NODES").clone()).await?;
        Ok(parse_cluster_nodes(&text))
    }
}

/// Whether an error may come from a cluster connection whose view of the cluster is out of
/// date: a lost or refused connection, a node it no longer knows, a redirect or a
/// cluster that is (for now) down.
pub(super) fn stale_view(e: &RedisError) -> bool {
    e.is_unrecoverable_error()
        || e.is_cluster_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
}

/// Positions of `keys`, grouped by hash slot, in first-seen order.
pub(super) fn slot_groups<K: AsRef<[u8]>>(keys: impl Iterator<Item = K>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slots: HashMap<Slot, usize> = HashMap::new();
    for (i, key) in keys.enumerate() {
        let group = *slots.entry(Slot::for_key(key)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(i);
    }
    groups
}

/// `CLUSTER NODES` lines: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong>
/// <epoch> <link> [<slot> ...]`. Nodes without an address (`noaddr`) are left out.
pub fn parse_cluster_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse().ok().filter(|p| *p != 0)?;
            let flags = fields.get(2)?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
            if host.is_empty() || flags.split(',').any(|f| f == "noaddr" || f == "handshake") {
                return None;
            }
            let master = flags.split(',').any(|f| f == "master");
            let failed = flags.split(',').any(|f| f == "fail");
            Some(ClusterNode {
                host,
                port,
                master,
                serves_slots: master && fields.len() > 8,
                failed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_give_address_role_and_slot_ownership() {
        let text = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,node-b.example slave a1 0 1700 1 connected
c3 127.0.0.1:7002@17002 master,fail - 1700 1690 2 disconnected
d4 :0@0 master,noaddr - 1700 1690 3 disconnected 5461-10922
e5 [::1]:7004@17004 master - 0 1700 4 connected 10923-16383
";
        let nodes = parse_cluster_nodes(text);
        let summary: Vec<(String, u16, bool, bool, bool)> = nodes
            .into_iter()
            .map(|n| (n.host, n.port, n.master, n.serves_slots, n.failed))
            .collect();
        assert_eq!(
            summary,
            [
                ("127.0.0.1".to_string(), 7000, true, true, false),
                ("127.0.0.1".to_string(), 7001, false, false, false),
                ("127.0.0.1".to_string(), 7002, true, false, true),
                ("::1".to_string(), 7004, true, true, false),
            ]
        );
    }

    #[test]
    fn keys_are_grouped_by_slot_in_first_seen_order() {
        let keys = ["{AAPL}:1", "MSFT", "{AAPL}:2", "GOOG", "MSFT"];
        let groups = slot_groups(keys.iter());
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0], [0, 2]);
        assert!(groups.iter().any(|g| g == &[1, 4]));
        let mut all: Vec<usize> = groups.concat();
        all.sort();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    }
}
