//! One Redis server: a connection manager, remade over RESP2 if the server turns out not
//! to speak RESP3 (Redis < 6, or a proxy without `HELLO 3`), so that tracking mode never
//! costs a deployment its cache. The server is either given, or the one Redis Sentinel
//! names: the crate's connection manager reconnects to the address it was made for, so
//! after a failover this link asks the Sentinels again and moves to the new primary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, ConnectionAddr, ConnectionInfo, ErrorKind, ProtocolVersion, RedisError, RedisResult,
};

use super::{address_of, Tracking, MAX_RECONNECT_DELAY, MIN_RECONNECT_DELAY};
use crate::options::{SentinelSettings, Settings};

/// After trouble, the Sentinels are asked at most this often: during a failover they name
/// the old primary for a while, and each question opens a connection to check its role.
const SENTINEL_RETRY: Duration = Duration::from_millis(100);

pub struct SingleLink {
    source: Source,
    settings: Settings,
    tracking: Option<Arc<Tracking>>,
    current: Mutex<Option<Current>>,
    resp2: AtomicBool,
    /// The burst that met the refusal sends again (see [`SingleLink::take_resend`]).
    resend: AtomicBool,
}

struct Current {
    conn: ConnectionManager,
    client: Client,
    address: String,
}

enum Source {
    Given,
    Sentinel(Box<Sentinel>),
}

struct Sentinel {
    settings: SentinelSettings,
    /// With the protocol it was built for; one question at a time.
    client: tokio::sync::Mutex<(SentinelClient, ProtocolVersion)>,
    /// A command failed in a way a failover causes: ask the Sentinels again.
    suspect: AtomicBool,
    last_asked: Mutex<Option<Instant>>,
}

impl SingleLink {
    /// With `tracking`, a RESP3 connection whose pushes go to it.
    pub(super) fn new(
        info: ConnectionInfo,
        settings: &Settings,
        tracking: Option<&Arc<Tracking>>,
    ) -> RedisResult<SingleLink> {
        let client = client(info, settings, protocol(tracking.is_some()))?;
        let conn = manager(client.clone(), settings, tracking)?;
        let address = address_of(client.get_connection_info());
        Ok(SingleLink::with(
            Source::Given,
            settings,
            tracking,
            Some(Current { conn, client, address }),
        ))
    }

    /// The server the Sentinels name; nothing is asked before the first command.
    pub(super) fn sentinel(
        sentinel: &SentinelSettings,
        settings: &Settings,
        tracking: Option<&Arc<Tracking>>,
    ) -> RedisResult<SingleLink> {
        let built = protocol(tracking.is_some());
        let source = Source::Sentinel(Box::new(Sentinel {
            client: tokio::sync::Mutex::new((sentinel_client(sentinel, settings, built)?, built)),
            settings: sentinel.clone(),
            suspect: AtomicBool::new(false),
            last_asked: Mutex::new(None),
        }));
        Ok(SingleLink::with(source, settings, tracking, None))
    }

    fn with(
        source: Source,
        settings: &Settings,
        tracking: Option<&Arc<Tracking>>,
        current: Option<Current>,
    ) -> SingleLink {
        SingleLink {
            source,
            settings: settings.clone(),
            tracking: tracking.cloned(),
            current: Mutex::new(current),
            resp2: AtomicBool::new(false),
            resend: AtomicBool::new(false),
        }
    }

    /// The connection to use now; behind Sentinel, asks them first when it is time to.
    pub(super) async fn connection(&self) -> RedisResult<ConnectionManager> {
        if let Source::Sentinel(sentinel) = &self.source {
            let known = self.lock().is_some();
            if sentinel.due(known) {
                if let Err(e) = self.ask(sentinel).await {
                    if !known {
                        return Err(e);
                    }
                }
            }
        }
        self.lock().as_ref().map(|c| c.conn.clone()).ok_or_else(|| {
            RedisError::from((ErrorKind::Io, "the Sentinels have not named a server yet"))
        })
    }

    /// `host:port` of the server in use (for Sentinel: the last one they named).
    pub(super) fn address(&self) -> Option<String> {
        self.lock().as_ref().map(|c| c.address.clone())
    }

    /// What the server in use is: a replica only when Sentinel was asked for one.
    pub(super) fn role(&self) -> &'static str {
        match &self.source {
            Source::Sentinel(s) if s.settings.replica => "replica",
            _ => "master",
        }
    }

    /// A command failed with `e`: behind Sentinel, errors a failover causes send the next
    /// command to the Sentinels first.
    pub(super) fn failed(&self, e: &RedisError) {
        if let Source::Sentinel(sentinel) = &self.source {
            let moved = e.is_io_error()
                || e.is_connection_refusal()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.code() == Some("READONLY");
            if moved {
                sentinel.suspect.store(true, Ordering::Release);
            }
        }
    }

    async fn ask(&self, sentinel: &Sentinel) -> RedisResult<()> {
        let mut guard = sentinel.client.lock().await;
        let wanted = protocol(self.tracking.is_some() && !self.resp2.load(Ordering::Acquire));
        if guard.1 != wanted {
            *guard = (sentinel_client(&sentinel.settings, &self.settings, wanted)?, wanted);
        }
        let client = guard.0.async_get_client().await?;
        sentinel.suspect.store(false, Ordering::Release);
        let address = address_of(client.get_connection_info());
        if self.lock().as_ref().is_some_and(|c| c.address == address) {
            return Ok(());
        }
        let tracking = self.tracking.as_ref().filter(|_| wanted == ProtocolVersion::RESP3);
        let conn = manager(client.clone(), &self.settings, tracking)?;
        let previous = self.lock().replace(Current { conn, client, address });
        // A new server: what the hot tier holds may be older than it, and tracking is off.
        if let (Some(_), Some(tracking)) = (previous, &self.tracking) {
            tracking.lost();
        }
        Ok(())
    }

    /// Replaces the connection with a RESP2 one, once; `true` when this call did.
    pub(super) fn downgrade(&self) -> bool {
        if self.resp2.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut current = self.lock();
        match &self.source {
            // The Sentinels are asked again, over RESP2.
            Source::Sentinel(_) => *current = None,
            Source::Given => {
                if let Some(c) = current.as_mut() {
                    let info = c.client.get_connection_info().clone();
                    let remade = client(info, &self.settings, ProtocolVersion::RESP2)
                        .and_then(|client| manager(client, &self.settings, None));
                    if let Ok(conn) = remade {
                        c.conn = conn;
                    }
                }
            }
        }
        self.resend.store(true, Ordering::Release);
        true
    }

    /// Whether a burst failed for want of RESP3 since the last call: it is worth resending.
    pub(super) fn take_resend(&self) -> bool {
        self.resend.swap(false, Ordering::AcqRel)
    }

    // A panic elsewhere while holding the lock must not take every later command down too.
    fn lock(&self) -> MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sentinel {
    /// Whether to ask the Sentinels before this command; marks the question as asked.
    fn due(&self, known: bool) -> bool {
        if known && !self.suspect.load(Ordering::Acquire) {
            return false;
        }
        let mut last = self.last_asked.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if known && last.is_some_and(|at| now.duration_since(at) < SENTINEL_RETRY) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Tracking's pushes need RESP3; without tracking the connection stays as the TS service's was.
pub(super) fn protocol(tracked: bool) -> ProtocolVersion {
    if tracked {
        ProtocolVersion::RESP3
    } else {
        ProtocolVersion::RESP2
    }
}

fn client(
    info: ConnectionInfo,
    settings: &Settings,
    protocol: ProtocolVersion,
) -> RedisResult<Client> {
    let redis_settings = info.redis_settings().clone().set_protocol(protocol);
    let info = info.set_redis_settings(redis_settings);
    match &settings.tls {
        Some(tls) => Client::build_with_tls(info, tls.certificates.clone()),
        None => Client::open(info),
    }
}

/// The Sentinels' client: plain connections to them, with their own credentials; the
/// servers they name get the settings' credentials, database and TLS.
fn sentinel_client(
    sentinel: &SentinelSettings,
    settings: &Settings,
    protocol: ProtocolVersion,
) -> RedisResult<SentinelClient> {
    let addresses = sentinel.sentinels.iter().map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
    let role =
        if sentinel.replica { SentinelServerType::Replica } else { SentinelServerType::Master };
    let mut builder = SentinelClientBuilder::new(addresses, &sentinel.name, role)?
        .set_client_to_redis_db(settings.redis.db())
        .set_client_to_redis_protocol(protocol);
    if let Some(user) = settings.redis.username() {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = settings.redis.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(tls) = &settings.tls {
        builder = builder
            .set_client_to_redis_tls_mode(tls.mode())
            .set_client_to_redis_certificates(tls.certificates.clone());
    }
    if let Some(user) = &sentinel.username {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &sentinel.password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    builder.build()
}

fn manager(
    client: Client,
    settings: &Settings,
    tracking: Option<&Arc<Tracking>>,
) -> RedisResult<ConnectionManager> {
    let mut config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.command_timeout))
        .set_number_of_retries(settings.max_retries)
        .set_min_delay(MIN_RECONNECT_DELAY)
        .set_max_delay(MAX_RECONNECT_DELAY);
    if let Some(tracking) = tracking {
        config = config.set_push_sender(tracking.push_sender());
    }
    ConnectionManager::new_lazy_with_config(client, config)
}
