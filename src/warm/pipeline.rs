//! One burst of commands on the wire: a pipeline to one server, or on a cluster separate
//! commands routed by slot (a pipeline there must stay within one slot).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use std::sync::Arc;

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::Value;

use super::cluster::slot_groups;
use super::single::SingleLink;
use super::tracking::Enabled;
use super::{Command, Conn, Warm};
use crate::error::{CacheError, Result};

/// Commands ready to send: one pipeline to one server, or separate commands the cluster
/// client routes by slot (a pipeline there must stay within one slot).
pub enum Outgoing {
    /// `replies`: how many of the pipeline's replies belong to each command, and whether it
    /// writes. `tracking`: the pipeline starts with the two commands that enable tracking.
    /// `wait`: it ends with a `WAIT` that every write's success depends on.
    Pipeline {
        link: Arc<SingleLink>,
        pipe: redis::Pipeline,
        replies: Vec<(usize, bool)>,
        tracking: bool,
        wait: bool,
    },
    /// `tracking`: enable tracking on every node before sending.
    Routed { conn: ClusterConnection, commands: Vec<Routed>, tracking: bool },
}

/// One command on a cluster.
pub enum Routed {
    One(redis::Cmd),
    /// A batch read as one `MGET` per slot (and per `chunk` keys): `parts` pairs each with
    /// the positions of its keys among the batch's `keys`.
    Gather {
        parts: Vec<(redis::Cmd, Vec<usize>)>,
        keys: usize,
        chunk: usize,
    },
}

impl Warm {
    /// `commands` ready to send. Points are serialised here, in place, so `json_len` then
    /// reads the written JSON.
    pub fn prepare<'a>(&self, commands: impl Iterator<Item = &'a mut Command>) -> Outgoing {
        let tracking = self.tracking.claim();
        match &self.conn {
            Conn::Cluster(link) => Outgoing::Routed {
                conn: link.connection(),
                commands: commands.map(|c| self.routed(c)).collect(),
                tracking,
            },
            Conn::Single(link) => {
                // An error reply then answers only its own command.
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                if tracking {
                    for cmd in self.tracking.commands() {
                        pipe.add_command(cmd);
                    }
                }
                let mut replies = Vec::new();
                for command in commands {
                    match command {
                        Command::MGet { keys, chunk } => {
                            let parts = keys.chunks((*chunk).max(1));
                            replies.push((parts.len(), false));
                            for part in parts {
                                pipe.add_command(self.mget(part.iter()));
                            }
                        }
                        other => {
                            replies.push((
                                1,
                                matches!(other, Command::Set { .. } | Command::Merge { .. }),
                            ));
                            pipe.add_command(self.single(other));
                        }
                    }
                }
                let wait = self.wait_replicas > 0 && replies.iter().any(|&(_, writes)| writes);
                if wait {
                    // Half the time limit, so the count comes back before the deadline.
                    let timeout_ms = (self.command_timeout.as_millis() / 2).max(1) as u64;
                    pipe.cmd("WAIT").arg(self.wait_replicas).arg(timeout_ms);
                }
                Outgoing::Pipeline { link: link.clone(), pipe, replies, tracking, wait }
            }
        }
    }

    /// A command of one key.
    fn single(&self, command: &mut Command) -> redis::Cmd {
        let mut cmd;
        match command {
            Command::Get(key) => {
                cmd = redis::cmd("GET");
                cmd.arg(self.key(key));
            }
            Command::Set { key, body, ttl_secs } => {
                cmd = redis::cmd("SETEX");
                cmd.arg(self.key(key)).arg(*ttl_secs).arg(body.written());
            }
            Command::Del(key) => {
                cmd = redis::cmd("DEL");
                cmd.arg(self.key(key));
            }
            Command::Merge { key, body, merge } => {
                cmd = super::series::command(self.key(key), body.written(), merge);
            }
            Command::MGet { keys, .. } => cmd = self.mget(keys.iter()),
        }
        cmd
    }

    fn mget<'k>(&self, keys: impl Iterator<Item = &'k String>) -> redis::Cmd {
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        cmd
    }

    /// On a cluster a batch read is grouped by slot here: each part is then a single-slot
    /// command the client routes, retries and re-routes after a failover like any other.
    /// (Its own multi-slot MGET split silently skips a node it has no connection to, and
    /// such a skip never triggers the slot-map refresh that a failover needs.)
    fn routed(&self, command: &mut Command) -> Routed {
        let Command::MGet { keys, chunk } = command else {
            return Routed::One(self.single(command));
        };
        let chunk = (*chunk).max(1);
        let parts = slot_groups(keys.iter().map(|key| self.key(key)))
            .into_iter()
            .flat_map(|group| group.chunks(chunk).map(<[usize]>::to_vec).collect::<Vec<_>>())
            .map(|at| (self.mget(at.iter().map(|&i| &keys[i])), at))
            .collect();
        Routed::Gather { parts, keys: keys.len(), chunk }
    }

    /// Sends prepared commands: one result per command, holding its replies. A transport
    /// failure, or passing `deadline`, fails every command. On a cluster a batch read keeps
    /// the parts that answered; a failed part's keys read as misses.
    pub async fn send(&self, outgoing: Outgoing, deadline: Instant) -> Vec<Result<Vec<Value>>> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match outgoing {
            Outgoing::Pipeline { link, pipe, replies, tracking, wait } => {
                let sent = match remaining.is_zero() {
                    true => Err(self.timeout()),
                    false => {
                        let sent = async {
                            pipe.query_async::<Vec<Value>>(&mut link.connection().await?).await
                        };
                        self.run_within(remaining, sent).await
                    }
                };
                let sent = match sent {
                    Ok(mut values) if tracking => {
                        let rest = values.split_off(values.len().min(2));
                        self.tracking.enabled(Enabled::from_replies(values), &self.credentials);
                        Ok(rest)
                    }
                    // A server without RESP3 was already dealt with (`run_within`).
                    Err(e) if tracking => {
                        self.tracking.enabled(Enabled::Failed, &self.credentials);
                        Err(e)
                    }
                    other => other,
                };
                match sent {
                    Ok(mut values) => {
                        let unreplicated = match wait {
                            true => self.unreplicated(values.pop()),
                            false => None,
                        };
                        let mut values = values.into_iter();
                        replies
                            .into_iter()
                            .map(|(n, writes)| {
                                let own = values.by_ref().take(n).collect();
                                match (&unreplicated, writes) {
                                    (Some(e), true) => Err(e.clone()),
                                    _ => Ok(own),
                                }
                            })
                            .collect()
                    }
                    Err(e) => replies.iter().map(|_| Err(e.clone())).collect(),
                }
            }
            Outgoing::Routed { conn, commands, tracking } => {
                if tracking {
                    self.enable_on_every_node(&conn, remaining).await;
                }
                join_all(
                    commands.into_iter().map(|command| self.send_routed(&conn, command, remaining)),
                )
                .await
            }
        }
    }

    /// `WAIT`'s reply: the error every write of the burst gets when fewer replicas than
    /// `waitForReplicas` acknowledged it.
    fn unreplicated(&self, reply: Option<Value>) -> Option<CacheError> {
        let wanted = self.wait_replicas;
        match reply {
            Some(Value::Int(n)) if n >= wanted as i64 => None,
            Some(Value::Int(n)) => Some(CacheError::Redis(format!(
                "Redis stored the write, but only {n} of the {wanted} replicas waitForReplicas \
                 asks for acknowledged it in time: a failover now could lose it"
            ))),
            other => self.status(other).err(),
        }
    }

    /// Tracking is per connection, so every node, replicas included: a replica that takes
    /// over after a failover already tracks.
    async fn enable_on_every_node(&self, conn: &ClusterConnection, limit: Duration) {
        let route = RoutingInfo::MultiNode((
            MultipleNodeRoutingInfo::AllNodes,
            Some(ResponsePolicy::AllSucceeded),
        ));
        for cmd in self.tracking.commands() {
            let mut conn = conn.clone();
            let outcome =
                match tokio::time::timeout(limit, conn.route_command(cmd, route.clone())).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => Enabled::from_error(e),
                    Err(_) => Enabled::Failed,
                };
            return self.tracking.enabled(outcome, &self.credentials);
        }
        self.tracking.enabled(Enabled::On, &self.credentials);
    }

    /// One command on a cluster; each part has its own time limit, so a slot whose master
    /// is failing costs only that slot's keys. A batch read's replies are put back in key
    /// order and in `chunk`-sized arrays, the shape one server's pipeline gives, for [`texts`];
    /// a failed part adds one trailing status, and a batch no part answered fails.
    async fn send_routed(
        &self,
        conn: &ClusterConnection,
        command: Routed,
        limit: Duration,
    ) -> Result<Vec<Value>> {
        match command {
            Routed::One(cmd) => {
                let mut conn = conn.clone();
                self.run_within(limit, cmd.query_async::<Value>(&mut conn)).await.map(|v| vec![v])
            }
            Routed::Gather { parts, keys, chunk } => {
                let replies =
                    join_all(parts.iter().map(|(cmd, _)| {
                        let mut conn = conn.clone();
                        async move {
                            self.run_within(limit, cmd.query_async::<Vec<Value>>(&mut conn)).await
                        }
                    }))
                    .await;
                let mut values = vec![Value::Nil; keys];
                let mut failed = None;
                let mut answered = false;
                for ((_, at), reply) in parts.iter().zip(replies) {
                    match reply {
                        Ok(reply) => {
                            answered = true;
                            for (&i, value) in at.iter().zip(reply) {
                                values[i] = value;
                            }
                        }
                        Err(e) => failed = Some(e),
                    }
                }
                match (failed, answered) {
                    (Some(e), false) => Err(e),
                    (failed, _) => {
                        let mut values = values.into_iter();
                        let mut out: Vec<Value> = (0..keys.div_ceil(chunk))
                            .map(|_| Value::Array(values.by_ref().take(chunk).collect()))
                            .collect();
                        // After the arrays, so the keys keep their places: the batch's
                        // failure event needs to know that a part failed.
                        out.extend(failed.map(|e| Value::SimpleString(e.to_string())));
                        Ok(out)
                    }
                }
            }
        }
    }
}
