//! A delivery's own AMQP headers: measured without recursion, refused when too large or
//! too deep, and then discarded where a deep table cannot overflow the stack.
//!
//! A publisher decides what the headers hold. Two shapes break a consumer: a table near
//! the broker's frame size (every re-publish adds our headers, cannot fit, fails, and the
//! message returns to fail again), and tables nested thousands deep: the AMQP library
//! parses, clones and drops them recursively, and on an ordinary 2 MiB thread stack
//! 200 levels (debug build) or 1,200 (release) crash the process — and every replica
//! after it, as the message is redelivered. Parsing happens on lapin's own thread, which
//! `main` gives [`DEEP_STACK_BYTES`]; everything after it is handled here.

use std::sync::{Arc, Mutex};

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use crate::parse::BadInput;

/// The most a message's own headers may take, encoded; ours must fit the frame too.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The deepest nesting of tables and arrays accepted; RabbitMQ's own `x-death` is 4.
pub const MAX_HEADER_DEPTH: usize = 16;

/// Stack for threads that may hold the deepest table a 128 KiB frame can carry (26,000
/// nested arrays): measured at under 64 MiB in release builds and 512 MiB in debug ones.
/// Address space only: pages are used as deep as a table actually goes.
pub const DEEP_STACK_BYTES: usize = if cfg!(debug_assertions) {
    1 << 30
} else {
    256 << 20
};

/// Why the headers are refused, if they are.
pub fn check(properties: &BasicProperties) -> Result<(), BadInput> {
    let Some(table) = properties.headers() else {
        return Ok(());
    };
    let (size, depth) = shape(table);
    if size > MAX_HEADER_BYTES {
        return Err(BadInput::HeadersTooLarge {
            size,
            limit: MAX_HEADER_BYTES,
        });
    }
    if depth > MAX_HEADER_DEPTH {
        return Err(BadInput::HeadersTooDeep {
            limit: MAX_HEADER_DEPTH,
        });
    }
    Ok(())
}

/// Drops refused properties on a thread with a deep stack (dropping a nested table
/// recurses). Should no thread start, they are leaked instead: memory, not a crash.
pub fn discard(properties: BasicProperties) {
    let slot = Arc::new(Mutex::new(Some(properties)));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("notify-bridge-discard".into())
        .stack_size(DEEP_STACK_BYTES)
        .spawn(move || drop(theirs.lock().ok().and_then(|mut p| p.take())));
    if spawned.is_err() {
        if let Some(properties) = slot.lock().ok().and_then(|mut p| p.take()) {
            std::mem::forget(properties);
        }
    }
}

/// An upper bound of the table's AMQP encoding in bytes, and its nesting depth (a flat
/// table is 1), found with a work list rather than recursion.
fn shape(table: &FieldTable) -> (usize, usize) {
    let (mut size, mut deepest) = (4, 1);
    let mut pending: Vec<(&AMQPValue, usize)> = Vec::new();
    for (key, value) in table.inner() {
        size += 1 + key.as_str().len();
        pending.push((value, 1));
    }
    while let Some((value, depth)) = pending.pop() {
        size += 1 + match value {
            AMQPValue::LongString(s) => 4 + s.as_bytes().len(),
            AMQPValue::ShortString(s) => 1 + s.as_str().len(),
            AMQPValue::ByteArray(b) => 4 + b.len(),
            AMQPValue::FieldArray(a) => {
                deepest = deepest.max(depth + 1);
                pending.extend(a.as_slice().iter().map(|v| (v, depth + 1)));
                4
            }
            AMQPValue::FieldTable(t) => {
                deepest = deepest.max(depth + 1);
                for (key, value) in t.inner() {
                    size += 1 + key.as_str().len();
                    pending.push((value, depth + 1));
                }
                4
            }
            // Numbers, booleans, timestamps, decimals, void: at most 8 bytes.
            _ => 8,
        };
    }
    (size, deepest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, LongString};

    fn props(table: FieldTable) -> BasicProperties {
        BasicProperties::default().with_headers(table)
    }

    fn nested_arrays(depth: usize) -> FieldTable {
        let mut value = AMQPValue::Boolean(true);
        for _ in 1..depth {
            value = AMQPValue::FieldArray(FieldArray::from(vec![value]));
        }
        FieldTable::from(std::collections::BTreeMap::from([("a".into(), value)]))
    }

    #[test]
    fn flat_and_x_death_shaped_headers_pass() {
        let mut table = FieldTable::default();
        table.insert("x-app".into(), AMQPValue::LongString(LongString::from("v")));
        let death = FieldTable::from(std::collections::BTreeMap::from([(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString("q".into())])),
        )]));
        let deaths = FieldArray::from(vec![AMQPValue::FieldTable(death)]);
        table.insert("x-death".into(), AMQPValue::FieldArray(deaths));
        assert_eq!(shape(&table).1, 4);
        assert_eq!(check(&props(table)), Ok(()));
        assert_eq!(check(&BasicProperties::default()), Ok(()));
    }

    #[test]
    fn large_or_deep_headers_are_refused() {
        let mut big = FieldTable::default();
        let value = LongString::from(vec![b'x'; MAX_HEADER_BYTES]);
        big.insert("x-big".into(), AMQPValue::LongString(value));
        assert_eq!(check(&props(big)).unwrap_err().code(), "headers-too-large");
        assert_eq!(check(&props(nested_arrays(MAX_HEADER_DEPTH))), Ok(()));
        let deep = props(nested_arrays(MAX_HEADER_DEPTH + 1));
        assert_eq!(check(&deep).unwrap_err().code(), "headers-too-deep");
    }

    #[test]
    fn a_table_too_deep_to_drop_here_is_discarded_elsewhere() {
        let deep = props(nested_arrays(26_000));
        assert_eq!(check(&deep).unwrap_err().code(), "headers-too-large");
        discard(deep);
    }
}
