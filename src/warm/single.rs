//! One Redis server: a connection manager, remade over RESP2 if the server turns out not
//! to speak RESP3 (Redis < 6, or a proxy without `HELLO 3`), so that tracking mode never
//! costs a deployment its cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, ProtocolVersion, RedisResult};

use super::{Tracking, MAX_RECONNECT_DELAY, MIN_RECONNECT_DELAY};
use crate::config::Settings;

pub(super) struct SingleLink {
    client: Client,
    settings: Settings,
    conn: Mutex<ConnectionManager>,
    resp2: AtomicBool,
    /// The burst that met the refusal sends again (see [`SingleLink::take_resend`]).
    resend: AtomicBool,
}

impl SingleLink {
    /// With `tracking`, a RESP3 connection whose pushes go to it.
    pub(super) fn new(
        info: ConnectionInfo,
        settings: &Settings,
        tracking: Option<&Arc<Tracking>>,
    ) -> RedisResult<SingleLink> {
        let protocol =
            if tracking.is_some() { ProtocolVersion::RESP3 } else { ProtocolVersion::RESP2 };
        let client = client(info, settings, protocol)?;
        let conn = manager(client.clone(), settings, tracking)?;
        Ok(SingleLink {
            client,
            settings: settings.clone(),
            conn: Mutex::new(conn),
            resp2: AtomicBool::new(false),
            resend: AtomicBool::new(false),
        })
    }

    pub(super) fn connection(&self) -> ConnectionManager {
        self.lock().clone()
    }

    /// Replaces the connection with a RESP2 one, once; `true` when this call did.
    pub(super) fn downgrade(&self) -> bool {
        if self.resp2.swap(true, Ordering::AcqRel) {
            return false;
        }
        let info = self.client.get_connection_info().clone();
        let remade = client(info, &self.settings, ProtocolVersion::RESP2)
            .and_then(|client| manager(client, &self.settings, None));
        if let Ok(conn) = remade {
            *self.lock() = conn;
        }
        self.resend.store(true, Ordering::Release);
        true
    }

    /// Whether a burst failed for want of RESP3 since the last call: it is worth resending.
    pub(super) fn take_resend(&self) -> bool {
        self.resend.swap(false, Ordering::AcqRel)
    }

    // A panic elsewhere while holding the lock must not take every later command down too.
    fn lock(&self) -> MutexGuard<'_, ConnectionManager> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
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
