//! DNP3 link layer: the input is a reassembled stream (or a datagram); frame it to exhaustion
//! (CRCs are not checked under `cfg(fuzzing)`), check the incremental contract (progress,
//! bounds), probe it, and touch every accessor of every frame.

#![no_main]

use dissectors::dnp3::{self, link, LinkHeader};
use dissectors::Parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dnp3::probe(data);
    let skip = link::resync_len(data);
    assert!(skip >= 1 && (data.is_empty() || skip <= data.len()));
    let mut offset = 0;
    let mut steps = 0;
    while offset < data.len() {
        steps += 1;
        assert!(steps <= data.len(), "no progress");
        let rest = &data[offset..];
        match link::parse(rest) {
            Parse::Message { message, consumed } => {
                assert!(consumed >= 1 && consumed <= rest.len());
                assert_eq!(consumed, message.frame_len());
                let header = LinkHeader::new_checked(rest).expect("framed frame has a header");
                assert_eq!(header.length(), message.length);
                assert_eq!(message.user_data().len() + 5, usize::from(message.length));
                let control = message.control;
                let _ = (control.dir(), control.prm(), control.fcb(), control.fcv(), control.dfc());
                let _ = (message.function().name(), message.is_link_only(), message.from_master());
                std::hint::black_box(format!("{message:?}"));
                offset += consumed;
            }
            Parse::Skip { len, anomaly } => {
                assert!(len >= 1 && len <= rest.len());
                assert!(anomaly.id.starts_with("dnp3."));
                offset += len;
            }
            Parse::Incomplete { needed } => {
                assert!(needed >= 1 && rest.len() + needed <= link::MAX_FRAME_LEN);
                break;
            }
        }
    }
});
