//! Stream tests: ADUs back to back, fed whole, split at every byte boundary, and byte by byte,
//! through a driver that buffers and calls `parse` as a TCP stream consumer would.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dissectors::modbus::{self, ModbusMessage};
use dissectors::{Direction, Parse, Probe};

/// Wraps PDU bytes in an MBAP header.
fn adu(transaction_id: u16, unit_id: u8, pdu: &[u8]) -> Vec<u8> {
    let mut out = transaction_id.to_be_bytes().to_vec();
    out.extend_from_slice(&[0x00, 0x00]); // protocol id 0
    out.extend_from_slice(&u16::try_from(pdu.len() + 1).unwrap().to_be_bytes());
    out.push(unit_id);
    out.extend_from_slice(pdu);
    out
}

/// Requests of many function codes (client to server), each PDU annotated.
fn requests() -> Vec<Vec<u8>> {
    vec![
        adu(1, 1, &[0x01, 0x00, 0x13, 0x00, 0x13]), // read coils 19 x19
        adu(2, 1, &[0x02, 0x00, 0xC4, 0x00, 0x16]), // read discrete inputs 196 x22
        adu(3, 1, &[0x03, 0x00, 0x6B, 0x00, 0x03]), // read holding registers 107 x3
        adu(4, 1, &[0x04, 0x00, 0x08, 0x00, 0x01]), // read input registers 8 x1
        adu(5, 1, &[0x05, 0x00, 0xAC, 0xFF, 0x00]), // write single coil 172 ON
        adu(6, 1, &[0x06, 0x00, 0x01, 0x00, 0x03]), // write single register 1 = 3
        adu(7, 1, &[0x07]),                         // read exception status
        adu(8, 1, &[0x08, 0x00, 0x00, 0xA5, 0x37]), // diagnostics: return query data
        adu(9, 1, &[0x08, 0x00, 0x04, 0x00, 0x00]), // diagnostics: force listen only
        adu(10, 1, &[0x0B]),                        // get comm event counter
        adu(11, 1, &[0x0C]),                        // get comm event log
        // write multiple coils 19 x10: byte count 2, values
        adu(12, 1, &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01]),
        // write multiple registers 1 x2: byte count 4, values 10, 258
        adu(13, 1, &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02]),
        adu(14, 1, &[0x11]), // report server id
        // read file record: byte count 7, ref 6, file 4, record 1, length 2
        adu(15, 1, &[0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02]),
        // write file record: byte count 9, ref 6, file 4, record 7, length 1, data
        adu(16, 1, &[0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x01, 0x06, 0xAF]),
        adu(17, 1, &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25]), // mask write register
        // read/write multiple: read 3 x6, write 14 x1, byte count 2, value
        adu(18, 1, &[0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x01, 0x02, 0x00, 0xFF]),
        adu(19, 1, &[0x18, 0x04, 0xDE]),             // read FIFO queue 1246
        adu(20, 1, &[0x2B, 0x0E, 0x01, 0x00]),       // read device identification, basic
        adu(21, 1, &[0x5A, 0x00, 0x02]),             // UMAS read id
        adu(22, 1, &[0x5A, 0x07, 0x41, 0xFF, 0x00]), // UMAS stop PLC
        adu(23, 1, &[0x7D, 0x01, 0x02]),             // firmware replacement (raw)
        adu(24, 1, &[0x41, 0x00]),                   // unknown function
    ]
}

/// Responses of many function codes (server to client), each PDU annotated.
fn responses() -> Vec<Vec<u8>> {
    vec![
        adu(1, 1, &[0x01, 0x03, 0xCD, 0x6B, 0x05]), // read coils: 3 bytes
        adu(2, 1, &[0x02, 0x03, 0xAC, 0xDB, 0x35]), // read discrete inputs: 3 bytes
        // read holding registers: 6 bytes, 555, 0, 100
        adu(3, 1, &[0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]),
        adu(4, 1, &[0x04, 0x02, 0x00, 0x0A]),        // read input registers: 10
        adu(5, 1, &[0x05, 0x00, 0xAC, 0xFF, 0x00]),  // write single coil echo
        adu(6, 1, &[0x06, 0x00, 0x01, 0x00, 0x03]),  // write single register echo
        adu(7, 1, &[0x07, 0x6D]),                    // exception status 0x6D
        adu(8, 1, &[0x08, 0x00, 0x00, 0xA5, 0x37]),  // diagnostics echo
        adu(10, 1, &[0x0B, 0xFF, 0xFF, 0x01, 0x08]), // comm event counter
        // comm event log: byte count 8, status, event count, message count, 2 events
        adu(11, 1, &[0x0C, 0x08, 0x00, 0x00, 0x01, 0x08, 0x01, 0x21, 0x20, 0x00]),
        adu(12, 1, &[0x0F, 0x00, 0x13, 0x00, 0x0A]), // write multiple coils response
        adu(13, 1, &[0x10, 0x00, 0x01, 0x00, 0x02]), // write multiple registers response
        adu(14, 1, &[0x11, 0x02, 0x42, 0xFF]),       // report server id
        // read file record: length 6; sub-response length 5, ref 6, two registers
        adu(15, 1, &[0x14, 0x06, 0x05, 0x06, 0x0D, 0xFE, 0x00, 0x20]),
        // write file record echo
        adu(16, 1, &[0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x01, 0x06, 0xAF]),
        adu(17, 1, &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25]), // mask write echo
        adu(18, 1, &[0x17, 0x04, 0x00, 0xFE, 0x0A, 0xCD]),       // read/write: 2 registers
        // FIFO: byte count 6, FIFO count 2, 440, 4740
        adu(19, 1, &[0x18, 0x00, 0x06, 0x00, 0x02, 0x01, 0xB8, 0x12, 0x84]),
        // device id: code 1, conformity 1, no more, next 0, 2 objects
        adu(
            20,
            1,
            &[
                0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x02, //
                0x00, 0x04, b'A', b'C', b'M', b'E', // vendor name
                0x01, 0x02, b'P', b'1', // product code
            ],
        ),
        adu(21, 1, &[0x5A, 0x00, 0xFE, 0x01, 0x02]), // UMAS OK
        adu(22, 1, &[0x5A, 0x07, 0xFD]),             // UMAS error
        adu(23, 1, &[0x83, 0x02]),                   // exception: illegal data address
        adu(24, 1, &[0xC1, 0x01]),                   // unknown function, exception
    ]
}

type Summary = (u16, u8, u8, String, Vec<&'static str>);

fn summary(message: &ModbusMessage<'_>) -> Summary {
    (
        message.transaction_id,
        message.unit_id,
        message.raw_function_code,
        format!("{:?}", message.pdu),
        message.anomalies.iter().map(|k| k.id).collect(),
    )
}

/// What a stream consumer sees: messages and skips.
#[derive(Debug, Default, PartialEq)]
struct Output {
    messages: Vec<Summary>,
    skips: Vec<&'static str>,
    leftover: usize,
}

/// Feeds `chunks` in order, parsing after each as a reassembly consumer does.
fn drive<'c>(chunks: impl IntoIterator<Item = &'c [u8]>, direction: Direction) -> Output {
    let mut buffer: Vec<u8> = Vec::new();
    let mut out = Output::default();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match modbus::parse(&buffer, direction) {
                Parse::Message { message, consumed } => {
                    assert!((1..=buffer.len()).contains(&consumed));
                    out.messages.push(summary(&message));
                    buffer.drain(..consumed);
                }
                Parse::Incomplete { needed } => {
                    assert!(needed >= 1);
                    break;
                }
                Parse::Skip { len, anomaly } => {
                    assert!((1..=buffer.len()).contains(&len));
                    out.skips.push(anomaly.id);
                    buffer.drain(..len);
                }
            }
        }
    }
    out.leftover = buffer.len();
    out
}

fn concat(adus: &[Vec<u8>]) -> Vec<u8> {
    adus.concat()
}

fn streams() -> [(Vec<u8>, Direction, usize); 2] {
    let requests = requests();
    let responses = responses();
    [
        (concat(&requests), Direction::ToServer, requests.len()),
        (concat(&responses), Direction::ToClient, responses.len()),
    ]
}

#[test]
fn whole_stream() {
    for (stream, direction, count) in streams() {
        let out = drive([&stream[..]], direction);
        assert_eq!(out.messages.len(), count);
        assert!(out.skips.is_empty());
        assert_eq!(out.leftover, 0);
        // Only the deliberately odd fixtures carry anomalies.
        let odd: Vec<_> = out.messages.iter().filter(|m| !m.4.is_empty()).collect();
        assert_eq!(odd.len(), 1, "{odd:?}");
        assert_eq!(odd[0].4, ["modbus.unknown_function"]);
    }
}

#[test]
fn split_at_every_byte_boundary() {
    for (stream, direction, _) in streams() {
        let whole = drive([&stream[..]], direction);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(drive([a, b], direction), whole, "cut at {cut}");
        }
        // And three-way splits around every ADU boundary region.
        for cut in 1..stream.len() {
            let second = (cut + 5).min(stream.len());
            let chunks = [&stream[..cut], &stream[cut..second], &stream[second..]];
            assert_eq!(drive(chunks, direction), whole, "cuts at {cut}, {second}");
        }
    }
}

#[test]
fn byte_by_byte() {
    for (stream, direction, _) in streams() {
        let whole = drive([&stream[..]], direction);
        assert_eq!(drive(stream.chunks(1), direction), whole);
    }
}

#[test]
fn garbage_in_front() {
    let garbage: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n",
        &[0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03],
        &[0xFF; 40],
    ];
    for junk in garbage {
        for (stream, direction, count) in streams() {
            let whole = drive([&stream[..]], direction);
            let mut buf = junk.to_vec();
            buf.extend_from_slice(&stream);
            let out = drive([&buf[..]], direction);
            assert_eq!(out.skips.len(), 1, "{junk:02X?}");
            assert_eq!(out.messages, whole.messages);
            assert_eq!(out.messages.len(), count);
            // Fed byte by byte, resynchronisation may take several skips, but loses nothing.
            let out = drive(buf.chunks(1), direction);
            assert!(!out.skips.is_empty());
            assert_eq!(out.messages, whole.messages);
        }
    }
}

#[test]
fn garbage_between_adus() {
    let requests = requests();
    let mut buf = requests[0].clone();
    buf.extend_from_slice(b"\xde\xad\xbe\xef junk");
    buf.extend_from_slice(&requests[1]);
    let out = drive([&buf[..]], Direction::ToServer);
    assert_eq!(out.messages.len(), 2);
    assert_eq!(out.skips, ["modbus.invalid_protocol_id"]);
}

#[test]
fn invalid_length_skips_to_next_adu() {
    let requests = requests();
    let mut buf = vec![0x00, 0x09, 0x00, 0x00, 0x01, 0x00, 0x01, 0x03]; // length 256
    buf.extend_from_slice(&requests[2]);
    let out = drive([&buf[..]], Direction::ToServer);
    assert_eq!(out.skips, ["modbus.invalid_length"]);
    assert_eq!(out.messages.len(), 1);
    assert_eq!(out.messages[0].0, 3);
}

#[test]
fn probe_matches_real_adus() {
    for adu in requests().iter().chain(responses().iter()) {
        if adu[7] == 0x41 || adu[7] == 0xC1 {
            assert_eq!(modbus::probe(adu), Probe::NoMatch, "{adu:02X?}");
        } else {
            assert_eq!(modbus::probe(adu), Probe::Match, "{adu:02X?}");
        }
    }
    for (stream, _, _) in streams() {
        assert_eq!(modbus::probe(&stream), Probe::Match);
        assert_eq!(modbus::probe(&stream[..8]), Probe::Match);
        assert_eq!(modbus::probe(&stream[..7]), Probe::NeedMore);
    }
}

#[test]
fn probe_rejects_other_protocols_on_port_502() {
    let http = b"GET /index.html HTTP/1.1\r\nHost: 10.0.0.5\r\nUser-Agent: curl/8.0\r\n\r\n";
    assert_eq!(modbus::probe(http), Probe::NoMatch);
    assert_eq!(modbus::probe(b"HTTP/1.1 200 OK\r\n"), Probe::NoMatch);
    // TLS 1.2 ClientHello record header and handshake start.
    let client_hello = [
        0x16, 0x03, 0x01, 0x00, 0xF1, // record: handshake, TLS 1.0, length 241
        0x01, 0x00, 0x00, 0xED, // ClientHello, length 237
        0x03, 0x03, // client version TLS 1.2
        0x5B, 0x2E, 0x8F, 0x01, 0x77, 0x10, 0x22, 0x3A, // random...
    ];
    assert_eq!(modbus::probe(&client_hello), Probe::NoMatch);
    assert_eq!(modbus::probe(b"SSH-2.0-OpenSSH_9.6\r\n"), Probe::NoMatch);
    assert_eq!(modbus::probe(&[0u8; 32]), Probe::NoMatch); // length 0
                                                           // Random bytes (a fixed xorshift sequence): never Modbus.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2000 {
        let mut buf = [0u8; 64];
        for byte in buf.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        assert_eq!(modbus::probe(&buf), Probe::NoMatch, "{buf:02X?}");
    }
}
