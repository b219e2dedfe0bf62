//! `getHealthStatus`: a PING to the server, or to every node of a cluster.

use futures_util::future::join_all;

use super::{Conn, Warm};
use crate::error::CacheError;

/// One node's answer to `getHealthStatus`.
#[derive(Debug, Clone)]
pub struct NodeHealth {
    pub address: String,
    pub role: &'static str,
    pub connected: bool,
    pub error: Option<String>,
}

impl NodeHealth {
    /// The node as `getHealthStatus` reports it (docs/contract.md).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "address": self.address,
            "role": self.role,
            "connected": self.connected,
            "error": self.error,
        })
    }
}

/// The outcome of a health check: the first error of a node the cache needs, and every node.
#[derive(Debug, Clone)]
pub struct Health {
    pub error: Option<String>,
    pub nodes: Vec<NodeHealth>,
}

impl Warm {
    /// PINGs the server, or every node of the cluster. Unhealthy when a node that owns
    /// slots does not answer; a lost replica shows in its node entry only.
    pub async fn health(&self) -> Health {
        if let Conn::Single(link) = &self.conn {
            let error = self.query::<()>(redis::cmd("PING")).await.err().map(|e| e.to_string());
            // Behind Sentinel: the server it named last (a primary, or a replica by `role`).
            let node = NodeHealth {
                address: link
                    .address()
                    .unwrap_or_else(|| "(not named by the Sentinels yet)".into()),
                role: link.role(),
                connected: error.is_none(),
                error: error.clone(),
            };
            return Health { error, nodes: vec![node] };
        }
        let nodes = match self.cluster_nodes().await {
            Ok(nodes) => nodes,
            Err(e) => return Health { error: Some(e.to_string()), nodes: Vec::new() },
        };
        // A node the cluster has failed is not pinged: the client dropped it from its map.
        let pings = join_all(nodes.iter().map(|node| async move {
            match node.failed {
                true => Err(CacheError::Redis("the cluster marks this node as failed".into())),
                false => self.query_node::<()>(Some(node), redis::cmd("PING")).await,
            }
        }))
        .await;
        let mut error = None;
        let nodes = nodes
            .into_iter()
            .zip(pings)
            .map(|(node, ping)| {
                let address = format!("{}:{}", node.host, node.port);
                let failure = ping.err().map(|e| format!("{address}: {e}"));
                if node.serves_slots && error.is_none() {
                    error = failure.clone();
                }
                let role = if node.master { "master" } else { "replica" };
                NodeHealth { address, role, connected: failure.is_none(), error: failure }
            })
            .collect();
        Health { error, nodes }
    }
}
