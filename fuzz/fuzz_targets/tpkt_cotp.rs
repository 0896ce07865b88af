//! TPKT and COTP: the input is a reassembled stream; frame TPKT packets to exhaustion, decode
//! each COTP PDU and feed DTs to a small reassembler, checking the incremental contract.

#![no_main]

use dissectors::cotp::{self, Body, CotpReassembler, Reassembly};
use dissectors::{tpkt, Parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tpkt::resync_len(data);
    let _ = cotp::plausible(data);
    let mut reassembler = CotpReassembler::new(1024);
    let (mut offset, mut steps) = (0, 0);
    while offset < data.len() {
        steps += 1;
        assert!(steps <= data.len(), "no progress");
        let rest = &data[offset..];
        match tpkt::parse(rest) {
            Parse::Message { message, consumed } => {
                assert!(consumed >= 1 && consumed <= rest.len());
                assert_eq!(usize::from(message.length()), consumed);
                assert!(tpkt::TpktFrame::new_checked(rest).is_ok());
                if let Ok(pdu) = cotp::decode(message.payload()) {
                    let params = pdu.parameters();
                    let _ = (params.src_tsap(), params.dst_tsap(), params.tpdu_size(), params.iter().count());
                    if let Body::Data { eot, .. } = pdu.body {
                        if let Reassembly::Complete { tsdu, .. } = reassembler.push(pdu.user_data, eot) {
                            assert!(tsdu.len() <= 1024);
                        }
                    }
                    std::hint::black_box(format!("{pdu:?}"));
                }
                offset += consumed;
            }
            Parse::Skip { len, anomaly } => {
                assert!(len >= 1 && len <= rest.len());
                assert!(anomaly.id.starts_with("s7comm."));
                offset += len;
            }
            Parse::Incomplete { needed } => {
                assert!(needed >= 1);
                break;
            }
        }
    }
});
