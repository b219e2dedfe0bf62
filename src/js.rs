//! Reading JavaScript arguments into Rust values, or into coded errors that name the
//! argument (docs/contract.md, "Bad input and errors"). Nothing here trusts the caller's types.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{FromNapiValue, Object};
use napi::{JsValue, Unknown, ValueType};

use crate::error::{CacheError, Result};
use crate::options::{JsOptions, OptionSource, Raw};

/// Hot-tier admission requested by `setData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Hot,
    Warm,
    Auto,
}

/// `clearAll` options; `force` ignores `preserveActive`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClearOptions {
    pub keep_younger_than: Option<u64>,
}

const DEFAULT_MAX_AGE_SECS: f64 = 3600.0;

/// `typeof v`, with `null` and arrays told apart, for error messages.
pub(crate) fn typeof_name(v: &Unknown) -> &'static str {
    match v.get_type() {
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Boolean) => "boolean",
        Ok(ValueType::Number) => "number",
        Ok(ValueType::String) => "string",
        Ok(ValueType::Symbol) => "symbol",
        Ok(ValueType::Function) => "function",
        Ok(ValueType::BigInt) => "bigint",
        Ok(ValueType::Object) if v.is_array().unwrap_or(false) => "array",
        Ok(_) => "object",
        Err(_) => "unreadable value",
    }
}

pub(crate) fn unreadable(what: &str, e: napi::Error) -> CacheError {
    CacheError::Type(format!("{what} could not be read: {}", e.reason))
}

/// The type was checked just before each call, which is what `cast` requires.
pub(crate) fn cast<T: FromNapiValue>(v: &Unknown, what: &str) -> Result<T> {
    unsafe { v.cast::<T>() }.map_err(|e| unreadable(what, e))
}

pub(crate) fn kind(v: &Unknown, what: &str) -> Result<ValueType> {
    v.get_type().map_err(|e| unreadable(what, e))
}

pub fn key(v: Unknown, what: &str) -> Result<String> {
    if kind(&v, what)? != ValueType::String {
        return Err(CacheError::Type(format!(
            "{what} must be a non-empty string, got {}",
            typeof_name(&v)
        )));
    }
    let key: String = cast(&v, what)?;
    if key.is_empty() {
        return Err(CacheError::Type(format!(
            "{what} must be a non-empty string, got an empty string"
        )));
    }
    Ok(key)
}

pub fn keys(v: Unknown) -> Result<Vec<String>> {
    if kind(&v, "keys")? != ValueType::Object || !v.is_array().unwrap_or(false) {
        return Err(CacheError::Type(format!(
            "keys must be an array of strings, got {}",
            typeof_name(&v)
        )));
    }
    let array: Object = cast(&v, "keys")?;
    let len = array.get_array_length().map_err(|e| unreadable("keys", e))?;
    (0..len)
        .map(|i| {
            let item: Unknown = array.get_element(i).map_err(|e| unreadable("keys", e))?;
            key(item, &format!("keys[{i}]"))
        })
        .collect()
}

pub fn priority(v: Unknown) -> Result<Priority> {
    match kind(&v, "priority")? {
        ValueType::Undefined => Ok(Priority::Auto),
        ValueType::String => match cast::<String>(&v, "priority")?.as_str() {
            "hot" => Ok(Priority::Hot),
            "warm" => Ok(Priority::Warm),
            "auto" => Ok(Priority::Auto),
            other => Err(CacheError::Range(format!(
                "priority must be \"hot\", \"warm\" or \"auto\", got {other:?}"
            ))),
        },
        _ => Err(CacheError::Type(format!("priority must be a string, got {}", typeof_name(&v)))),
    }
}

pub fn since(v: Unknown) -> Result<f64> {
    if kind(&v, "since")? != ValueType::Number {
        return Err(CacheError::Type(format!(
            "since must be a finite number, got {}",
            typeof_name(&v)
        )));
    }
    let since: f64 = cast(&v, "since")?;
    if !since.is_finite() {
        return Err(CacheError::Range(format!("since must be a finite number, got {since}")));
    }
    Ok(since)
}

/// How many points the normalised data holds; `None` for missing or empty data, which
/// `setData` ignores (compat).
pub fn point_count(v: Unknown) -> Result<Option<u32>> {
    match kind(&v, "data")? {
        ValueType::Undefined | ValueType::Null => return Ok(None),
        ValueType::Object if v.is_array().unwrap_or(false) => {}
        _ => {
            return Err(CacheError::Type(format!("data must be an array, got {}", typeof_name(&v))))
        }
    }
    let array: Object = cast(&v, "data")?;
    let len = array.get_array_length().map_err(|e| unreadable("data", e))?;
    Ok((len > 0).then_some(len))
}

pub fn clear_options(v: Unknown) -> Result<ClearOptions> {
    let opts = JsOptions::new(v, "options")?;
    let flag = |name: &str| -> Result<bool> {
        match opts.get(name)? {
            Raw::Missing => Ok(false),
            Raw::Bool(b) => Ok(b),
            _ => Err(CacheError::Type(format!("options.{name} must be a boolean"))),
        }
    };
    let (force, preserve) = (flag("force")?, flag("preserveActive")?);
    let max_age = match opts.get("maxAge")? {
        Raw::Missing => DEFAULT_MAX_AGE_SECS,
        Raw::Num(n) if n.is_finite() && n >= 0.0 => n,
        Raw::Num(n) => {
            return Err(CacheError::Range(format!(
                "options.maxAge must be a finite number >= 0, got {n}"
            )))
        }
        _ => return Err(CacheError::Type("options.maxAge must be a number of seconds".into())),
    };
    Ok(ClearOptions { keep_younger_than: (preserve && !force).then_some(max_age.ceil() as u64) })
}
