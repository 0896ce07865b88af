//! S7comm: the input is both a whole TSDU (decoded directly) and a reassembled ISO-on-TCP stream
//! (parsed to exhaustion with `S7Stream`); every accessor and iterator of every message is
//! touched.

#![no_main]

use dissectors::s7comm::{self, Event, Pdu, S7Message, S7Stream};
use dissectors::Parse;
use libfuzzer_sys::fuzz_target;

fn touch(message: &S7Message<'_>) {
    let _ = (message.function(), message.info(), message.error(), message.transaction_key());
    let _ = (message.is_request(), message.is_response(), message.pi_service(), message.userdata());
    let mut sink = 0usize;
    for item in message.items() {
        sink += item.address.len() + usize::from(item.any.is_some());
    }
    for item in message.data_items() {
        sink += item.value.len();
    }
    assert!(message.items().iter().count() <= s7comm::MAX_ITEMS);
    assert!(message.data_items().iter().count() <= s7comm::MAX_ITEMS);
    if let Pdu::PiService { parameter, .. } = message.pdu {
        sink += s7comm::PiBlocks::new(parameter).iter().count();
    }
    if let Some(code) = message.error() {
        let _ = s7comm::error_description(code);
    }
    std::hint::black_box(sink);
    std::hint::black_box(format!("{message:?}"));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = s7comm::decode(data) {
        touch(&message);
    }
    let _ = s7comm::probe(data);
    let mut stream = S7Stream::new(4096);
    let (mut offset, mut steps) = (0, 0);
    while offset < data.len() {
        steps += 1;
        assert!(steps <= data.len(), "no progress");
        let rest = &data[offset..];
        match stream.parse(rest) {
            Parse::Message { message, consumed } => {
                assert!(consumed >= 1 && consumed <= rest.len());
                if let Event::S7 { message, .. } = &message {
                    touch(message);
                }
                offset += consumed;
            }
            Parse::Skip { len, .. } => {
                assert!(len >= 1 && len <= rest.len());
                offset += len;
            }
            Parse::Incomplete { needed } => {
                assert!(needed >= 1);
                break;
            }
        }
    }
});
