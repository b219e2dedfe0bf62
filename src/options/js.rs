//! The JavaScript options object as an [`OptionSource`].

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Buffer, Object};
use napi::{JsValue, Unknown, ValueType};

use super::raw::{OptionSource, Raw};
use crate::error::{CacheError, Result};
use crate::js::{cast, kind, typeof_name, unreadable};

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
