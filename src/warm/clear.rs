//! `clearAll`: SCAN + UNLINK of this cache's keys only, on every master of a cluster.

use futures_util::future::join_all;

use super::cluster::{slot_groups, ClusterNode};
use super::{Conn, Warm};
use crate::error::{CacheError, Result};

const SCAN_COUNT: usize = 500;

/// What `clearAll` did in Redis.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Cleared {
    pub deleted: u64,
    pub preserved: u64,
}

impl Warm {
    /// Removes this cache's keys with SCAN + UNLINK (never KEYS), on every master of a
    /// cluster. With `keep_younger_than`, keys written less than that many seconds ago
    /// stay; their age is `warm_ttl - TTL`.
    ///
    /// On a cluster a pass that times out runs once more: the timeout has retired a
    /// connection that may have stalled (see [`ClusterLink`]), and SCAN + UNLINK can safely
    /// start over, counting on from where the first pass stopped.
    pub async fn clear(
        &self,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
    ) -> Result<Cleared> {
        let mut cleared = Cleared::default();
        let first = self.clear_pass(keep_younger_than, warm_ttl_secs, &mut cleared).await;
        match (first, &self.conn) {
            (Err(CacheError::Timeout { .. }), Conn::Cluster(_)) => {
                self.clear_pass(keep_younger_than, warm_ttl_secs, &mut cleared).await?
            }
            (first, _) => first?,
        }
        Ok(cleared)
    }

    async fn clear_pass(
        &self,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
        cleared: &mut Cleared,
    ) -> Result<()> {
        let masters = match self.conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(_) => self
                .cluster_nodes()
                .await?
                .into_iter()
                .filter(|n| n.serves_slots)
                .map(Some)
                .collect(),
        };
        for node in &masters {
            self.clear_node(node.as_ref(), keep_younger_than, warm_ttl_secs, cleared).await?;
        }
        Ok(())
    }

    async fn clear_node(
        &self,
        node: Option<&ClusterNode>,
        keep_younger_than: Option<u64>,
        warm_ttl_secs: u64,
        cleared: &mut Cleared,
    ) -> Result<()> {
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut cursor: u64 = 0;
        loop {
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .clone();
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query_node(node, scan).await?;
            let doomed = match keep_younger_than {
                _ if keys.is_empty() => keys,
                None => keys,
                Some(max_age) => {
                    let ttls = self.ttls(&keys).await?;
                    let mut doomed = Vec::new();
                    for (key, ttl) in keys.into_iter().zip(ttls) {
                        let age = warm_ttl_secs as i64 - ttl;
                        if ttl > 0 && age < max_age as i64 {
                            cleared.preserved += 1;
                        } else {
                            doomed.push(key);
                        }
                    }
                    doomed
                }
            };
            if !doomed.is_empty() {
                self.unlink(doomed, cleared).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// One `UNLINK` on one server; on a cluster one per slot, each routed like any command.
    /// `deleted` counts what Redis confirmed, also when another part failed.
    async fn unlink(&self, keys: Vec<Vec<u8>>, cleared: &mut Cleared) -> Result<()> {
        let groups = match self.conn {
            Conn::Single(_) => vec![(0..keys.len()).collect()],
            Conn::Cluster(_) => slot_groups(keys.iter()),
        };
        let unlinks = groups.into_iter().map(|group| {
            let mut cmd = redis::cmd("UNLINK");
            for i in group {
                cmd.arg(&keys[i]);
            }
            self.query::<u64>(cmd)
        });
        let mut failure = Ok(());
        for result in join_all(unlinks).await {
            match result {
                Ok(n) => cleared.deleted += n,
                Err(e) => failure = failure.and(Err(e)),
            }
        }
        failure
    }

    async fn ttls(&self, keys: &[Vec<u8>]) -> Result<Vec<i64>> {
        match &self.conn {
            Conn::Single(link) => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("TTL").arg(key);
                }
                self.run(async { pipe.query_async(&mut link.connection().await?).await }).await
            }
            Conn::Cluster(_) => {
                let ttls = join_all(
                    keys.iter().map(|key| self.query::<i64>(redis::cmd("TTL").arg(key).clone())),
                )
                .await;
                ttls.into_iter().collect()
            }
        }
    }
}

/// Escapes Redis glob metacharacters so a key prefix like `app[1]*` matches only itself.
pub fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("stream:stream_cache_warm"), "stream:stream_cache_warm");
        assert_eq!(escape_glob("a*b?c[d]e\\"), "a\\*b\\?c\\[d\\]e\\\\");
    }
}
