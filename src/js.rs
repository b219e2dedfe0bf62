//! Reading JavaScript arguments into Rust values, or into coded errors that name the
//! argument (docs/contract.md, "Bad input and errors"). Nothing here trusts the caller's types.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Buffer, FromNapiValue, Object};
use napi::{JsValue, Unknown, ValueType};

use crate::config::{OptionSource, Raw};
use crate::error::{CacheError, Result};

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
fn typeof_name(v: &Unknown) -> &'static str {
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

fn unreadable(what: &str, e: napi::Error) -> CacheError {
    CacheError::Type(format!("{what} could not be read: {}", e.reason))
}

/// The type was checked just before each call, which is what `cast` requires.
fn cast<T: FromNapiValue>(v: &Unknown, what: &str) -> Result<T> {
    unsafe { v.cast::<T>() }.map_err(|e| unreadable(what, e))
}

fn kind(v: &Unknown, what: &str) -> Result<ValueType> {
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

/// An options object seen as an [`OptionSource`]; `undefined` means all defaults.
pub struct JsOptions<'a> {
    root: Option<Object<'a>>,
}

impl<'a> JsOptions<'a> {
    pub fn new(v: Unknown<'a>, what: &str) -> Result<Self> {
        match kind(&v, what)? {
            ValueType::Undefined | ValueType::Null => Ok(JsOptions { root: None }),
            ValueType::Object if !v.is_array().unwrap_or(false) => {
                Ok(JsOptions { root: Some(cast(&v, what)?) })
            }
            _ => {
                Err(CacheError::Type(format!("{what} must be an object, got {}", typeof_name(&v))))
            }
        }
    }
}

impl OptionSource for JsOptions<'_> {
    fn get(&self, path: &str) -> Result<Raw> {
        let Some(mut obj) = self.root else { return Ok(Raw::Missing) };
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let what = format!("options.{path}");
            let value: Unknown = obj.get_named_property(part).map_err(|e| unreadable(&what, e))?;
            let t = kind(&value, &what)?;
            if parts.peek().is_some() {
                match t {
                    ValueType::Undefined | ValueType::Null => return Ok(Raw::Missing),
                    ValueType::Object => obj = cast(&value, &what)?,
                    _ => return Err(CacheError::Type(format!("options.{part} must be an object"))),
                }
                continue;
            }
            return raw(&value, &what, 0);
        }
        Ok(Raw::Missing)
    }
}

/// Nesting an option value may have (`redis.cluster.nodes[i].host` is two below the leaf).
const MAX_OPTION_DEPTH: usize = 3;

/// One option value; arrays, buffers and plain objects are read whole, a few levels deep.
fn raw(value: &Unknown, what: &str, depth: usize) -> Result<Raw> {
    Ok(match kind(value, what)? {
        ValueType::Undefined | ValueType::Null => Raw::Missing,
        ValueType::Boolean => Raw::Bool(cast(value, what)?),
        ValueType::Number => Raw::Num(cast(value, what)?),
        ValueType::String => Raw::Str(cast(value, what)?),
        ValueType::Object if depth < MAX_OPTION_DEPTH => {
            if value.is_buffer().unwrap_or(false) {
                let bytes: Buffer = cast(value, what)?;
                return Ok(Raw::Bytes(bytes.to_vec()));
            }
            let obj: Object = cast(value, what)?;
            if value.is_array().unwrap_or(false) {
                let len = obj.get_array_length().map_err(|e| unreadable(what, e))?;
                let items = (0..len).map(|i| {
                    let item: Unknown = obj.get_element(i).map_err(|e| unreadable(what, e))?;
                    raw(&item, &format!("{what}[{i}]"), depth + 1)
                });
                return Ok(Raw::List(items.collect::<Result<_>>()?));
            }
            let names = obj.get_property_names().map_err(|e| unreadable(what, e))?;
            let len = names.get_array_length().map_err(|e| unreadable(what, e))?;
            let mut fields = Vec::with_capacity(len as usize);
            for i in 0..len {
                let name: String = names.get_element(i).map_err(|e| unreadable(what, e))?;
                let item: Unknown =
                    obj.get_named_property(&name).map_err(|e| unreadable(what, e))?;
                let item = raw(&item, &format!("{what}.{name}"), depth + 1)?;
                fields.push((name, item));
            }
            Raw::Map(fields)
        }
        _ => Raw::Other(typeof_name(value)),
    })
}
