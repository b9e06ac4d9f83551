//! A publisher written against the AMQP 0-9-1 wire format by hand, for header tables no
//! AMQP library will encode: lapin's own encoder overflows its stack on deep ones.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A header table with `depth` arrays nested in one another under the key `a`, encoded.
pub fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut value = vec![b't', 1];
    for _ in 1..depth {
        let mut array = vec![b'A'];
        array.extend((value.len() as u32).to_be_bytes());
        array.extend(value);
        value = array;
    }
    let mut entry = vec![1, b'a'];
    entry.extend(value);
    let mut table = (entry.len() as u32).to_be_bytes().to_vec();
    table.extend(entry);
    table
}

fn short(text: &[u8]) -> Vec<u8> {
    [&[text.len() as u8], text].concat()
}

fn method(class: u16, id: u16, args: &[u8]) -> Vec<u8> {
    [&class.to_be_bytes()[..], &id.to_be_bytes(), args].concat()
}

struct Wire(TcpStream);

impl Wire {
    fn send(&mut self, kind: u8, channel: u16, payload: &[u8]) {
        let mut frame = vec![kind];
        frame.extend(channel.to_be_bytes());
        frame.extend((payload.len() as u32).to_be_bytes());
        frame.extend(payload);
        frame.push(0xce);
        self.0.write_all(&frame).unwrap();
    }

    /// Reads one frame; returns its payload.
    fn read(&mut self) -> Vec<u8> {
        let mut head = [0u8; 7];
        self.0.read_exact(&mut head).unwrap();
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        let mut payload = vec![0; size + 1];
        self.0.read_exact(&mut payload).unwrap();
        payload.truncate(size);
        payload
    }
}

/// Publishes `body` to `queue` on the default exchange with the encoded `headers` table
/// and `message_id`, as guest/guest on 127.0.0.1:5672; waits for the broker to take it.
pub fn publish(queue: &str, body: &[u8], message_id: &str, headers: &[u8]) {
    let mut wire = Wire(TcpStream::connect("127.0.0.1:5672").unwrap());
    wire.0
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    wire.0.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
    wire.read(); // connection.start
    let response = b"\0guest\0guest";
    let start_ok = [
        &0u32.to_be_bytes()[..],
        &short(b"PLAIN"),
        &(response.len() as u32).to_be_bytes(),
        response,
        &short(b"en_US"),
    ]
    .concat();
    wire.send(1, 0, &method(10, 11, &start_ok));
    let tune = wire.read();
    wire.send(1, 0, &method(10, 31, &[&tune[4..10], &[0, 0][..]].concat()));
    wire.send(
        1,
        0,
        &method(10, 40, &[&short(b"/")[..], &short(b""), &[0]].concat()),
    );
    wire.read(); // connection.open-ok
    wire.send(1, 1, &method(20, 10, &short(b"")));
    wire.read(); // channel.open-ok
    wire.send(1, 1, &method(85, 10, &[0])); // confirm.select
    wire.read(); // confirm.select-ok
    let publish = [&[0, 0][..], &short(b""), &short(queue.as_bytes()), &[0]].concat();
    wire.send(1, 1, &method(60, 40, &publish));
    // Content header: class 60, weight 0, body size, flags (headers, message-id), values.
    let mut header = [
        &60u16.to_be_bytes()[..],
        &[0, 0],
        &(body.len() as u64).to_be_bytes(),
        &0x2080u16.to_be_bytes(),
    ]
    .concat();
    header.extend(headers);
    header.extend(short(message_id.as_bytes()));
    wire.send(2, 1, &header);
    wire.send(3, 1, body);
    let ack = wire.read();
    assert_eq!(
        &ack[..4],
        &method(60, 80, &[])[..],
        "basic.ack from the broker"
    );
}
