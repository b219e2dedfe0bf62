//! The one error type of the addon, how it reaches JavaScript, and how Redis's errors are
//! worded for it (the password never appears).
//!
//! Every error a caller can see carries a stable `code`, so applications can branch on it
//! instead of parsing messages.

use std::fmt;

use napi::{Env, Status};
use napi_derive::napi;

/// Declares [`ErrorCode`] and its strings once: napi exports the enum, and `as_str` gives
/// Rust the same strings.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $value:literal,)*) => {
        /// The `code` of every error the package throws. JavaScript's `CODES` and the
        /// TypeScript types are derived from it.
        #[napi(string_enum)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[napi(value = $value)] $variant,)*
        }

        impl ErrorCode {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $value,)*
                }
            }
        }
    };
}

error_codes! {
    /// An argument of the wrong type (`TypeError`) or out of range (`RangeError`).
    InvalidArgument = "STREAM_CACHE_INVALID_ARGUMENT",
    /// The cache was destroyed before or during the call.
    Destroyed = "STREAM_CACHE_DESTROYED",
    /// Redis answered with an error, or the connection failed.
    RedisError = "STREAM_CACHE_REDIS_ERROR",
    /// Redis did not answer within `commandTimeout`.
    Timeout = "STREAM_CACHE_TIMEOUT",
    /// No native binary loads on this platform. Thrown by `js/loader.js`, which writes the
    /// string itself since there is no binding to read it from.
    NoBinary = "STREAM_CACHE_NO_BINARY",
}

#[derive(Debug, Clone, PartialEq)]
pub enum CacheError {
    /// An argument of the wrong JavaScript type; thrown as a `TypeError`.
    Type(String),
    /// An argument of the right type but outside its allowed values; thrown as a `RangeError`.
    Range(String),
    /// The cache was destroyed before or during the call.
    Destroyed,
    /// Redis answered with an error or the connection failed (message already redacted).
    Redis(String),
    /// Redis did not answer within `commandTimeout`.
    Timeout { after_ms: u64 },
}

impl CacheError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CacheError::Type(_) | CacheError::Range(_) => ErrorCode::InvalidArgument,
            CacheError::Destroyed => ErrorCode::Destroyed,
            CacheError::Redis(_) => ErrorCode::RedisError,
            CacheError::Timeout { .. } => ErrorCode::Timeout,
        }
    }

    /// Throws this error into JS with the right class and `code`; the returned error tells
    /// napi-rs that an exception is already pending so it does not throw a second one.
    pub fn throw(&self, env: &Env) -> napi::Error {
        let message = self.to_string();
        let thrown = match self {
            CacheError::Type(_) => env.throw_type_error(&message, Some(self.code().as_str())),
            CacheError::Range(_) => env.throw_range_error(&message, Some(self.code().as_str())),
            _ => env.throw_error(&message, Some(self.code().as_str())),
        };
        match thrown {
            Ok(()) => napi::Error::from_status(Status::PendingException),
            Err(e) => e,
        }
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Type(m) | CacheError::Range(m) | CacheError::Redis(m) => f.write_str(m),
            CacheError::Destroyed => f.write_str("StreamCache has been destroyed"),
            CacheError::Timeout { after_ms } => {
                write!(f, "Redis did not answer within {after_ms} ms (commandTimeout)")
            }
        }
    }
}

impl std::error::Error for CacheError {}

pub type Result<T> = std::result::Result<T, CacheError>;

/// Who the cache connects as: the user, named in errors, and the passwords, scrubbed from them.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub secrets: Vec<String>,
}

/// The error's text with the password scrubbed, in case a server or URL echoed it. Where
/// the client's own words are cryptic (a refused AUTH, a node it holds no connection to),
/// the cause is spelled out.
pub fn describe(err: &redis::RedisError, credentials: &Credentials) -> String {
    let mut text = err.to_string();
    // Over RESP3 the credentials go with HELLO, whose refusal is a plain WRONGPASS reply.
    let credentials_refused =
        err.kind() == redis::ErrorKind::AuthenticationFailed || err.code() == Some("WRONGPASS");
    if credentials_refused {
        let user = credentials.username.as_deref().unwrap_or("default");
        text = format!(
            "Redis refused the credentials of user \"{user}\" (wrong password, unknown or \
             disabled user): {text}"
        );
    } else if err.kind() == redis::ErrorKind::ClusterConnectionNotFound {
        text = format!("not connected: the node is not in the cluster's current slot map ({text})");
    }
    for secret in &credentials.secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}
