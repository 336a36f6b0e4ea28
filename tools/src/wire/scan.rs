//! What the JSON and MessagePack scanners share: a value as they read it, and the map's fields
//! set from key and value as serde's derive would set them. Anything serde would read some
//! other way, or reject, ends the scan (`None`), and serde reads the message instead.

use super::keys::Keys;
use super::{Id, Msg};
use std::borrow::Cow;

/// A value: nil, an integer (a MessagePack unsigned one, or any non-negative JSON number), a
/// signed one, or text.
#[derive(Clone, Copy, Debug)]
pub(super) enum Val<'a> {
    Nil,
    Uint(u64),
    Int(i64),
    Str(&'a str),
}

impl<'a> Val<'a> {
    fn time(self) -> Option<i64> {
        match self {
            Val::Uint(n) => i64::try_from(n).ok(),
            Val::Int(n) => Some(n),
            _ => None,
        }
    }

    fn text(self) -> Option<Option<Cow<'a, str>>> {
        match self {
            Val::Nil => Some(None),
            Val::Str(s) => Some(Some(Cow::Borrowed(s))),
            _ => None,
        }
    }

    /// An optional value read by `some` (nil is absent).
    fn opt<T>(self, some: impl FnOnce(Val<'a>) -> Option<T>) -> Option<Option<T>> {
        match self {
            Val::Nil => Some(None),
            v => some(v).map(Some),
        }
    }
}

/// The map being read, the fields seen (a key twice is serde's error), and the last one set
/// (its bit + 1; 0 before the first): the next key is looked for among those that follow it
/// ([`Keys::find`]).
#[derive(Default)]
pub(super) struct Fields<'a> {
    m: Msg<'a>,
    seen: u16,
    after: usize,
}

impl<'a> Fields<'a> {
    /// The bit of the key at `b[*i..]`, when `keys` recognises it (and it was not seen
    /// before); `*i` then moves past it.
    #[inline]
    pub(super) fn known(&mut self, keys: &Keys, b: &[u8], i: &mut usize) -> Option<usize> {
        let (bit, len) = keys.find(b, *i, self.seen, self.after)?;
        *i += len;
        Some(bit)
    }

    /// Sets the field of bit `bit` ([`super::keys::NAMES`]); `None` when serde would not
    /// read it so.
    pub(super) fn set(&mut self, bit: usize, v: Val<'a>) -> Option<()> {
        let m = &mut self.m;
        match bit {
            0 => m.ts_event = v.time()?,
            1 => {
                let Val::Str(s) = v else { return None };
                m.instrument = Cow::Borrowed(s);
            }
            2 => m.price = v.text()?,
            3 => m.size = v.text()?,
            4 => m.bid_px = v.text()?,
            5 => m.bid_sz = v.text()?,
            6 => m.ask_px = v.text()?,
            7 => m.ask_sz = v.text()?,
            8 => m.side = v.text()?,
            9 => m.ts_recv = v.opt(Val::time)?,
            10 => m.trade_id = v.opt(id)?,
            11 => m.update_id = v.opt(|v| if let Val::Uint(n) = v { Some(n) } else { None })?,
            _ => return None,
        }
        let was = self.seen;
        self.seen |= 1 << bit;
        self.after = bit + 1;
        (self.seen != was).then_some(())
    }

    /// The map, when the fields serde requires (`ts_event`, `instrument`) were set.
    pub(super) fn done(&mut self) -> Option<&mut Msg<'a>> {
        (self.seen & 0b11 == 0b11).then_some(&mut self.m)
    }
}

/// A trade id: text, or an unsigned integer (a signed one is left to serde, which takes a
/// non-negative one and rejects the rest).
fn id(v: Val<'_>) -> Option<Id<'_>> {
    match v {
        Val::Uint(n) => Some(Id::Num(n)),
        Val::Str(s) => Some(Id::Text(Cow::Borrowed(s))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{json, msgpack, Msg};
    use proptest::prelude::*;

    /// A value as a test writes it.
    #[derive(Clone, Debug)]
    enum V {
        Nil,
        Uint(u64),
        Int(i64),
        Float(f64),
        Str(String),
    }

    const KEYS: [&str; 12] = [
        "ts_event",
        "instrument",
        "price",
        "size",
        "bid_px",
        "bid_sz",
        "ask_px",
        "ask_sz",
        "side",
        "ts_recv",
        "trade_id",
        "update_id",
    ];

    /// An unsigned integer of 0 to 64 bits, so every width of encoding comes up.
    fn sized() -> impl Strategy<Value = u64> + Clone {
        (0u32..=64, any::<u64>()).prop_map(|(bits, n)| n.checked_shr(64 - bits).unwrap_or(0))
    }

    /// A negative integer of any size.
    fn negative() -> impl Strategy<Value = i64> + Clone {
        sized().prop_map(|n| -((n >> 1) as i64) - 1)
    }

    /// A value of the type serde reads for `key` (nil for an optional one, now and then).
    fn fitting(key: &'static str) -> BoxedStrategy<V> {
        let text = "[0-9a-zA-Z:.é-]{0,24}".prop_map(V::Str);
        let time = prop_oneof![sized().prop_map(|n| V::Uint(n >> 1)), negative().prop_map(V::Int)];
        let fit = match key {
            "instrument" => return text.boxed(),
            "ts_event" => return time.boxed(),
            "ts_recv" => time.boxed(),
            "update_id" => sized().prop_map(V::Uint).boxed(),
            "trade_id" => prop_oneof![sized().prop_map(V::Uint), text].boxed(),
            _ => text.boxed(),
        };
        prop_oneof![4 => fit, 1 => Just(V::Nil)].boxed()
    }

    /// Any value, of any type.
    fn any_value() -> impl Strategy<Value = V> {
        prop_oneof![
            Just(V::Nil),
            sized().prop_map(V::Uint),
            negative().prop_map(V::Int),
            any::<f64>().prop_map(V::Float),
            "[ -~\"\\\\\\n\u{1}é]{0,12}".prop_map(V::Str),
        ]
    }

    /// The plain maps: each key at most once (`ts_event` and `instrument` always), in any order.
    fn plain() -> impl Strategy<Value = Vec<(String, V)>> {
        let optional = proptest::sample::subsequence(KEYS[2..].to_vec(), 0..=10);
        (optional, any::<u64>()).prop_flat_map(|(mut keys, seed)| {
            keys.extend(["ts_event", "instrument"]);
            let n = keys.len();
            keys.rotate_left(seed as usize % n);
            keys.into_iter().map(|k| fitting(k).prop_map(move |v| (k.to_string(), v))).collect::<Vec<_>>()
        })
    }

    /// Any map: known and unknown keys, twice or missing, values of any type.
    fn any_map() -> impl Strategy<Value = Vec<(String, V)>> {
        let key =
            prop_oneof![4 => proptest::sample::select(KEYS.to_vec()).prop_map(String::from), 1 => "[a-z_\"]{0,9}"];
        proptest::collection::vec((key, any_value()), 0..8)
    }

    fn json_of(map: &[(String, V)], space: &str) -> Vec<u8> {
        let value = |v: &V| match v {
            V::Nil => "null".to_string(),
            V::Uint(n) => n.to_string(),
            V::Int(n) => n.to_string(),
            V::Float(f) => serde_json::to_string(f).unwrap_or_default(),
            V::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        };
        let fields: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{}{space}:{space}{}", serde_json::to_string(k).unwrap_or_default(), value(v)))
            .collect();
        format!("{space}{{{space}{}{space}}}{space}", fields.join(&format!("{space},{space}"))).into_bytes()
    }

    /// MessagePack, integers in the narrowest width or (`wide`) in 8 bytes.
    fn msgpack_of(map: &[(String, V)], wide: bool) -> Vec<u8> {
        use rmp::encode::*;
        let mut b = Vec::new();
        let _ = write_map_len(&mut b, map.len() as u32);
        for (k, v) in map {
            let _ = write_str(&mut b, k);
            let _ = match v {
                V::Nil => write_nil(&mut b).map_err(|_| ()),
                V::Uint(n) if wide => write_u64(&mut b, *n).map_err(|_| ()),
                V::Uint(n) => write_uint(&mut b, *n).map(drop).map_err(|_| ()),
                V::Int(n) if wide => write_i64(&mut b, *n).map_err(|_| ()),
                V::Int(n) => write_sint(&mut b, *n).map(drop).map_err(|_| ()),
                V::Float(f) => write_f64(&mut b, *f).map_err(|_| ()),
                V::Str(s) => write_str(&mut b, s).map_err(|_| ()),
            };
        }
        b
    }

    fn serde_json_msg(b: &[u8]) -> Option<Msg<'_>> {
        serde_json::from_slice(b).ok()
    }

    fn rmp_msg(b: &[u8]) -> Option<Msg<'_>> {
        rmp_serde::from_slice(b).ok()
    }

    proptest! {
        /// A plain map is read by the scanners, exactly as serde reads it.
        #[test]
        fn plain_maps_are_scanned_as_serde_reads_them(map in plain(), space in "[ \t\r\n]{0,2}", wide in any::<bool>()) {
            let j = json_of(&map, &space);
            let scanned = json::msg(&j);
            prop_assert!(scanned.is_some(), "{}", String::from_utf8_lossy(&j));
            prop_assert_eq!(scanned, serde_json_msg(&j));
            let m = msgpack_of(&map, wide);
            let scanned = msgpack::msg(&m);
            prop_assert!(scanned.is_some(), "{:?}", m);
            prop_assert_eq!(scanned, rmp_msg(&m));
        }

        /// Whatever the map (or a cut of it), what the scanners read, serde reads the same way.
        #[test]
        fn what_the_scanners_read_serde_reads_the_same(map in any_map(), space in "[ \t\r\n]{0,2}", wide in any::<bool>(),
                                                        cut in any::<proptest::sample::Index>()) {
            let j = json_of(&map, &space);
            for b in [&j[..], &j[..cut.index(j.len() + 1)]] {
                if let Some(m) = json::msg(b) {
                    prop_assert_eq!(Some(m), serde_json_msg(b), "{}", String::from_utf8_lossy(b));
                }
            }
            let m = msgpack_of(&map, wide);
            for b in [&m[..], &m[..cut.index(m.len() + 1)]] {
                if let Some(msg) = msgpack::msg(b) {
                    prop_assert_eq!(Some(msg), rmp_msg(b), "{:?}", b);
                }
            }
        }
    }

    /// What serde reads differently or rejects is left to it.
    #[test]
    fn the_rest_is_left_to_serde() {
        let cases: [&[u8]; 9] = [
            br#"{"ts_event":1,"instrument":"X","price":"1","size":"1","trade_id":"a\"b"}"#,
            br#"{"ts_event":1.0,"instrument":"X"}"#,
            br#"{"ts_event":01,"instrument":"X"}"#,
            br#"{"ts_event":1,"instrument":"X","instrument":"Y"}"#,
            br#"{"ts_event":1,"instrument":"X","venue":"Y"}"#,
            br#"{"ts_event":1,"instrument":"X"} x"#,
            br#"{"ts_event":1,"instrument":"X","trade_id":-0}"#,
            br#"{"ts_event":18446744073709551616,"instrument":"X"}"#,
            br#"{"instrument":"X"}"#,
        ];
        for b in cases {
            assert!(json::msg(b).is_none(), "{}", String::from_utf8_lossy(b));
        }
        assert!(json::msg(br#" { "ts_event" : -5 , "instrument" : "X" , "ts_recv" : null } "#).is_some());
        // Twenty digits up to u64::MAX are an integer (found by the property test in CI).
        let max = br#"{"ts_event":1,"instrument":"X","update_id":18446744073709551615}"#;
        assert_eq!(json::msg(max).and_then(|m| m.update_id), Some(u64::MAX));
        // A struct as an array (rmp-serde's compact form) and a float are serde's.
        assert!(msgpack::msg(&[0x92, 0x01, 0xa1, b'X']).is_none());
        let float = [0x82, 0xa8, b't', b's', b'_', b'e', b'v', b'e', b'n', b't', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(msgpack::msg(&float).is_none());
    }
}
