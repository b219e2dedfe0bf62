//! Warm values serialised and parsed off the JS thread.
//!
//! `JSON.parse` and `JSON.stringify` of a 10-point value each take about 5 µs of JS-thread
//! time, most of it in 60 float literals. Points in the canonical shape (`s` a string,
//! `p v t` and optional `c cp` finite numbers, in that order) cross as flat rows instead,
//! and the JSON is written or read here, on the tokio thread. Anything else stays JSON
//! that JS parses or writes itself, so the bytes in Redis and the values callers get are
//! always exactly what `JSON.stringify` / `JSON.parse` would give.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::CacheError;

/// Floats per point in the rows JS reads: `[symbol string index, p, v, t, c, cp]`, with NaN
/// for an absent `c`/`cp` (JSON has no NaN, so it cannot be a value).
use crate::wire::{point_row, PointField, POINT_STRIDE};

const SYMBOL: usize = PointField::Symbol as usize;
const C: usize = PointField::C as usize;
const CP: usize = PointField::Cp as usize;

#[derive(Debug, PartialEq)]
pub enum Decoded {
    Points(Encoded),
    /// Not in the canonical shape: JS parses it.
    Json(String),
}

pub fn decode(json: String) -> Decoded {
    if has_integer_negative_zero(&json) {
        return Decoded::Json(json);
    }
    let mut points = Encoded { rows: Vec::new(), symbols: Vec::new() };
    let mut reader = serde_json::Deserializer::from_str(&json);
    match reader.deserialize_seq(PointsVisitor(&mut points)).and_then(|()| reader.end()) {
        Ok(()) => Decoded::Points(points),
        Err(_) => Decoded::Json(json),
    }
}

/// serde reads the integer `-0` as 0, where JavaScript keeps the sign.
fn has_integer_negative_zero(json: &str) -> bool {
    let bytes = json.as_bytes();
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"-0" && !matches!(bytes.get(i + 2), Some(b'.' | b'e' | b'E')))
}

/// Appends `points` as `[count, ...rows]`, their symbols to `strings`, and returns where
/// they start.
pub fn encode(points: Encoded, rows: &mut Vec<f64>, strings: &mut Vec<String>) -> f64 {
    let start = rows.len();
    let base = strings.len() as f64;
    rows.reserve(1 + points.rows.len());
    rows.push(points.len() as f64);
    for row in points.rows.chunks_exact(POINT_STRIDE) {
        let at = rows.len();
        rows.extend_from_slice(row);
        rows[at + SYMBOL] += base;
    }
    strings.extend(points.symbols);
    start as f64
}

/// Canonical points as rows (the layout of [`encode`], without the count) and their
/// symbols, consecutive points of one symbol sharing it: what `setData` hands over (JS
/// sends only symbols JSON needs not escape) and what [`decode`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    rows: Vec<f64>,
    symbols: Vec<String>,
}

/// The longest `Number.prototype.toString` of a finite double, e.g. `-0.0000012345678901234567`.
const MAX_NUMBER_LEN: usize = 25;
/// `{"s":"","p":,"v":,"t":,"c":,"cp":}` and the comma before the next point.
const POINT_SYNTAX_LEN: usize = 35;

impl Encoded {
    /// Checks what JS sent, since a caller could reach the binding directly.
    pub fn new(rows: Vec<f64>, symbols: Vec<String>) -> crate::error::Result<Encoded> {
        let bad = |why: &str| Err(CacheError::Type(format!("encoded points: {why}")));
        if !rows.len().is_multiple_of(POINT_STRIDE) {
            return bad("row length is not a multiple of 6");
        }
        for row in rows.chunks_exact(POINT_STRIDE) {
            let symbol = row[SYMBOL];
            if symbol.fract() != 0.0 || symbol < 0.0 || symbol as usize >= symbols.len() {
                return bad("symbol index out of range");
            }
            let required = [PointField::P, PointField::V, PointField::T].map(|f| row[f as usize]);
            if !required.iter().all(|n| n.is_finite())
                || row[C].is_infinite()
                || row[CP].is_infinite()
            {
                return bad("numbers must be finite");
            }
        }
        if symbols.iter().any(|s| s.chars().any(|c| c == '"' || c == '\\' || c < ' ')) {
            return bad("a symbol needs JSON escaping");
        }
        Ok(Encoded { rows, symbols })
    }

    pub fn len(&self) -> usize {
        self.rows.len() / POINT_STRIDE
    }

    /// An upper bound of the JSON's length, in bytes and in UTF-16 units alike.
    pub fn max_json_len(&self) -> usize {
        self.rows
            .chunks_exact(POINT_STRIDE)
            .map(|row| {
                POINT_SYNTAX_LEN + 5 * MAX_NUMBER_LEN + self.symbols[row[SYMBOL] as usize].len()
            })
            .sum::<usize>()
            + 2
    }

    /// Exactly `JSON.stringify` of the points.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.len() * 96 + 2);
        let mut numbers = Numbers::default();
        out.push('[');
        for (i, row) in self.rows.chunks_exact(POINT_STRIDE).enumerate() {
            out.push_str(if i > 0 { ",{\"s\":\"" } else { "{\"s\":\"" });
            out.push_str(&self.symbols[row[SYMBOL] as usize]);
            out.push_str("\",\"p\":");
            numbers.write(&mut out, row[PointField::P as usize]);
            out.push_str(",\"v\":");
            numbers.write(&mut out, row[PointField::V as usize]);
            out.push_str(",\"t\":");
            numbers.write(&mut out, row[PointField::T as usize]);
            if !row[C].is_nan() {
                out.push_str(",\"c\":");
                numbers.write(&mut out, row[C]);
            }
            if !row[CP].is_nan() {
                out.push_str(",\"cp\":");
                numbers.write(&mut out, row[CP]);
            }
            out.push('}');
        }
        out.push(']');
        out
    }
}

/// `Number.prototype.toString` of finite doubles. Integers below 2^53 (volumes,
/// timestamps) print the same as an i64, and itoa does that several times faster than ryu.
#[derive(Default)]
struct Numbers {
    floats: ryu_js::Buffer,
    integers: itoa::Buffer,
}

impl Numbers {
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

    fn write(&mut self, out: &mut String, n: f64) {
        if n.fract() == 0.0 && n.abs() < Self::EXACT_INTEGERS {
            out.push_str(self.integers.format(n as i64));
        } else {
            out.push_str(self.floats.format_finite(n));
        }
    }
}

/// A JSON text's length in UTF-16 units, JavaScript's `length` (compat: `dataSize`).
pub fn utf16_len(json: &str) -> usize {
    if json.is_ascii() {
        json.len()
    } else {
        json.encode_utf16().count()
    }
}

/// Reads a JSON array of canonical points straight into rows: no string per point, since
/// a symbol is borrowed from the JSON and stored only when it differs from the last one. A
/// symbol with escapes cannot be borrowed, so its value stays JSON for JS to parse.
struct PointsVisitor<'a>(&'a mut Encoded);

fn not_canonical<E: de::Error>() -> E {
    E::custom("not a canonical point")
}

impl<'de> Visitor<'de> for PointsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects with keys s, p, v, t[, c][, cp] in that order")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(PointSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct PointSeed<'a>(&'a mut Encoded);

impl<'de> DeserializeSeed<'de> for PointSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PointSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with keys s, p, v, t[, c][, cp] in that order")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let expect = |name: &str, map: &mut A| -> Result<(), A::Error> {
            match map.next_key::<&str>()? {
                Some(key) if key == name => Ok(()),
                _ => Err(not_canonical()),
            }
        };
        expect("s", &mut map)?;
        let s = map.next_value::<&str>()?;
        expect("p", &mut map)?;
        let p = map.next_value::<f64>()?;
        expect("v", &mut map)?;
        let v = map.next_value::<f64>()?;
        expect("t", &mut map)?;
        let t = map.next_value::<f64>()?;
        let (mut c, mut cp) = (None, None);
        let mut key = map.next_key::<&str>()?;
        if key == Some("c") {
            c = Some(map.next_value::<f64>()?);
            key = map.next_key::<&str>()?;
        }
        if key == Some("cp") {
            cp = Some(map.next_value::<f64>()?);
            key = map.next_key::<&str>()?;
        }
        if key.is_some() {
            return Err(not_canonical());
        }
        let points = self.0;
        if points.symbols.last().is_none_or(|last| last != s) {
            points.symbols.push(s.to_owned());
        }
        let symbol = (points.symbols.len() - 1) as f64;
        points.rows.extend_from_slice(&point_row(symbol, p, v, t, c, cp));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(json: &str) -> Option<Encoded> {
        match decode(json.to_string()) {
            Decoded::Points(p) => Some(p),
            Decoded::Json(_) => None,
        }
    }

    /// Row `k`, with NaN (absent) as `None` so rows compare.
    fn row(p: &Encoded, k: usize) -> Vec<Option<f64>> {
        let row = &p.rows[k * POINT_STRIDE..(k + 1) * POINT_STRIDE];
        row.iter().map(|n| (!n.is_nan()).then_some(*n)).collect()
    }

    #[test]
    fn canonical_values_decode() {
        let p = points(
            r#"[{"s":"AAPL","p":1.5,"v":10,"t":1700000000000,"c":-0.25,"cp":0.1},{"s":"AAPL","p":2,"v":0,"t":1}]"#,
        );
        let p = p.as_ref().map(|p| (p.len(), row(p, 0), row(p, 1), p.symbols.clone()));
        let first = [0.0, 1.5, 10.0, 1_700_000_000_000.0, -0.25, 0.1].map(Some).to_vec();
        let second = vec![Some(0.0), Some(2.0), Some(0.0), Some(1.0), None, None];
        assert_eq!(p, Some((2, first, second, vec!["AAPL".to_string()])));
        assert_eq!(points("[]").map(|p| p.len()), Some(0));
        assert!(points(r#"[{"s":"A","p":1,"v":1,"t":1,"cp":2}]"#).is_some());
    }

    #[test]
    fn anything_else_stays_json() {
        for json in [
            r#"{"s":"A"}"#,
            r#"[1,2]"#,
            r#"[{"p":1,"s":"A","v":1,"t":1}]"#,
            r#"[{"s":"A","p":1,"v":1,"t":1,"x":1}]"#,
            r#"[{"s":"A","p":"1","v":1,"t":1}]"#,
            r#"[{"s":"A","p":1,"v":1,"t":1,"c":null}]"#,
            r#"[{"s":"A","s":"B","p":1,"v":1,"t":1}]"#,
            r#"[{"\u0073":"A","p":1,"v":1,"t":1}]"#,
            r#"[{"s":"A","p":-0,"v":1,"t":1}]"#,
            r#"[{"s":"A","p":1e400,"v":1,"t":1}]"#,
            r#"[{"s":"\ud800","p":1,"v":1,"t":1}]"#,
            // Escaped symbols cannot be borrowed: JS parses these (and gets the same value).
            r#"[{"s":"A\"B","p":1,"v":1,"t":1}]"#,
            r#"[] x"#,
            "not json",
        ] {
            assert_eq!(points(json), None, "{json}");
        }
    }

    #[test]
    fn negative_zero_as_a_float_keeps_its_sign() {
        let p = points(r#"[{"s":"A","p":-0.0,"v":1,"t":1}]"#);
        let p = p.map(|p| p.rows[PointField::P as usize]);
        assert!(p.is_some_and(|p| p == 0.0 && p.is_sign_negative()));
    }

    #[test]
    fn encoded_points_serialise_like_json_stringify() {
        let rows = vec![
            0.0,
            189.98,
            1200.0,
            1_764_000_000_000.0,
            -0.0,
            f64::NAN,
            1.0,
            1e21,
            5e-7,
            0.1 + 0.2,
            f64::NAN,
            -3.0,
        ];
        let encoded = Encoded::new(rows, vec!["AAPL".into(), "B é".into()]);
        let json = encoded.as_ref().map(Encoded::to_json).unwrap_or_default();
        // Node: JSON.stringify([{s:"AAPL",p:189.98,v:1200,t:1764000000000,c:-0},{s:"B é",p:1e21,v:5e-7,t:0.1+0.2,cp:-3}])
        let expected = r#"[{"s":"AAPL","p":189.98,"v":1200,"t":1764000000000,"c":0},{"s":"B é","p":1e+21,"v":5e-7,"t":0.30000000000000004,"cp":-3}]"#;
        assert_eq!(json, expected);
        assert!(encoded.as_ref().is_ok_and(|e| e.max_json_len() >= utf16_len(expected)));
        assert_eq!(utf16_len(expected), expected.chars().count());
    }

    #[test]
    fn encoded_points_are_checked() {
        let row = |symbol: f64, p: f64| vec![symbol, p, 1.0, 1.0, f64::NAN, f64::NAN];
        assert!(Encoded::new(row(0.0, 1.0), vec!["A".into()]).is_ok());
        assert!(Encoded::new(row(1.0, 1.0), vec!["A".into()]).is_err());
        assert!(Encoded::new(row(0.5, 1.0), vec!["A".into()]).is_err());
        assert!(Encoded::new(row(0.0, f64::NAN), vec!["A".into()]).is_err());
        assert!(Encoded::new(row(0.0, 1.0), vec!["A\"".into()]).is_err());
        assert!(Encoded::new(vec![0.0; 5], vec!["A".into()]).is_err());
    }

    #[test]
    fn rows_share_a_symbol_string() {
        let (mut rows, mut strings) = (vec![9.0], vec!["x".to_string()]);
        let p = points(
            r#"[{"s":"A","p":1,"v":2,"t":3},{"s":"A","p":4,"v":5,"t":6,"c":7},{"s":"B","p":1,"v":1,"t":1}]"#,
        );
        let empty = || Encoded { rows: Vec::new(), symbols: Vec::new() };
        let at = encode(p.unwrap_or_else(empty), &mut rows, &mut strings);
        assert_eq!(at, 1.0);
        assert_eq!(strings, ["x", "A", "B"]);
        assert_eq!(rows.len(), 2 + 3 * POINT_STRIDE);
        let point = |k: usize| &rows[2 + k * POINT_STRIDE..2 + (k + 1) * POINT_STRIDE];
        assert_eq!(point(1)[..CP], point_row(1.0, 4.0, 5.0, 6.0, Some(7.0), None)[..CP]);
        assert!(point(0)[C].is_nan() && point(1)[CP].is_nan());
    }
}
