//! Option values as read, before validation, and the typed accessors that validate them
//! into values or coded errors naming the option.

use std::time::Duration;

use crate::error::{CacheError, Result};

/// One option value as read from JavaScript, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// `undefined` or `null`, or not present: the default applies.
    Missing,
    Bool(bool),
    Num(f64),
    Str(String),
    /// A `Buffer`.
    Bytes(Vec<u8>),
    List(Vec<Raw>),
    /// A plain object's own properties, in order.
    Map(Vec<(String, Raw)>),
    /// Any other JavaScript type, named by `typeof`.
    Other(&'static str),
}

impl Raw {
    /// What the option looked like, for error messages.
    pub(super) fn shape_name(&self) -> &'static str {
        match self {
            Raw::Missing => "undefined",
            Raw::Bool(_) => "boolean",
            Raw::Num(_) => "number",
            Raw::Str(_) => "string",
            Raw::Bytes(_) => "Buffer",
            Raw::List(_) => "array",
            Raw::Map(_) => "object",
            Raw::Other(t) => t,
        }
    }

    /// The elements of a non-empty array option at `path`; `expected` names what it must be.
    pub(super) fn non_empty_list(&self, path: &str, expected: &str) -> Result<&[Raw]> {
        match self {
            Raw::List(list) if !list.is_empty() => Ok(list),
            Raw::List(_) => Err(CacheError::Range(format!("options.{path} must not be empty"))),
            other => Err(Reader::wrong_type(path, expected, other)),
        }
    }

    pub(super) fn field(&self, name: &str) -> &Raw {
        match self {
            Raw::Map(fields) => {
                fields.iter().find(|(k, _)| k == name).map_or(&Raw::Missing, |(_, v)| v)
            }
            _ => &Raw::Missing,
        }
    }
}

/// Where option values come from; `path` is dotted (`"redis.port"`).
pub trait OptionSource {
    fn get(&self, path: &str) -> Result<Raw>;
}

/// Typed accessors that turn a [`Raw`] into a value or a coded error naming the option.
pub(super) struct Reader<'a>(pub(super) &'a dyn OptionSource);

impl Reader<'_> {
    pub(super) fn wrong_type(path: &str, expected: &str, got: &Raw) -> CacheError {
        CacheError::Type(format!("options.{path} must be {expected}, got {}", got.shape_name()))
    }

    pub(super) fn number(&self, path: &str) -> Result<Option<f64>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Num(n) if n.is_finite() => Ok(Some(n)),
            Raw::Num(n) => {
                Err(CacheError::Range(format!("options.{path} must be finite, got {n}")))
            }
            other => Err(Self::wrong_type(path, "a number", &other)),
        }
    }

    pub(super) fn integer(&self, path: &str, min: f64, max: f64) -> Result<Option<f64>> {
        match self.number(path)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && n >= min && n <= max => Ok(Some(n)),
            Some(n) => Err(CacheError::Range(format!(
                "options.{path} must be an integer from {min} to {max}, got {n}"
            ))),
        }
    }

    pub(super) fn millis(&self, path: &str, min: f64) -> Result<Option<Duration>> {
        match self.number(path)? {
            None => Ok(None),
            Some(n) if n >= min && n <= 31_536_000_000.0 => {
                Ok(Some(Duration::from_secs_f64(n / 1000.0)))
            }
            Some(n) => Err(CacheError::Range(format!(
                "options.{path} must be at least {min} ms (and at most a year), got {n}"
            ))),
        }
    }

    pub(super) fn string(&self, path: &str) -> Result<Option<String>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Str(s) => Ok(Some(s)),
            other => Err(Self::wrong_type(path, "a string", &other)),
        }
    }

    /// A list of non-empty strings; missing is empty.
    pub(super) fn strings(&self, path: &str) -> Result<Vec<String>> {
        let items = match self.0.get(path)? {
            Raw::Missing => return Ok(Vec::new()),
            Raw::List(items) => items,
            other => return Err(Self::wrong_type(path, "an array of strings", &other)),
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Raw::Str(s) if !s.is_empty() => Ok(s),
                Raw::Str(_) => {
                    Err(CacheError::Range(format!("options.{path}[{i}] must not be empty")))
                }
                other => Err(Self::wrong_type(&format!("{path}[{i}]"), "a string", &other)),
            })
            .collect()
    }

    pub(super) fn boolean(&self, path: &str) -> Result<Option<bool>> {
        match self.0.get(path)? {
            Raw::Missing => Ok(None),
            Raw::Bool(b) => Ok(Some(b)),
            other => Err(Self::wrong_type(path, "a boolean", &other)),
        }
    }

    pub(super) fn callback(&self, path: &str) -> Result<bool> {
        match self.0.get(path)? {
            Raw::Missing => Ok(false),
            Raw::Other("function") => Ok(true),
            other => Err(Self::wrong_type(path, "a function", &other)),
        }
    }
}
