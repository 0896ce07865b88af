//! DNP3 transport layer: the input is a sequence of segments (each a length octet and that many
//! bytes: one link frame's user data); push them through a reassembler with a small bound and
//! one with the default, checking the bounds, and decode every fragment that comes out.

#![no_main]

use dissectors::dnp3::{application, TransportReassembler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut small = TransportReassembler::with_max_fragment(300);
    let mut default = TransportReassembler::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (segment, tail) = tail.split_at(len);
        rest = tail;
        for reassembler in [&mut small, &mut default] {
            let max = reassembler.max_fragment();
            let out = reassembler.push(segment);
            let _ = out.header.map(|h| (h.fin(), h.fir(), h.sequence()));
            if let Some(fragment) = out.fragment {
                assert!(fragment.len() <= max);
                if let Ok(message) = application::parse(fragment) {
                    std::hint::black_box(message.objects().count());
                }
            }
            assert!(reassembler.pending_len() <= max);
        }
    }
});
