//! Property tests: the incremental contract of `S7Stream::parse`, `tpkt::parse` and the
//! decoders holds for any bytes, and S7comm read/write jobs built by a test-only emitter from
//! arbitrary items round-trip through the whole stack.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dissectors::s7comm::{self, Area, Event, Pdu, S7Stream, TransportSize};
use dissectors::{cotp, s7commplus, tpkt, Parse};
use proptest::prelude::*;

/// Arbitrary bytes, biased towards TPKT/COTP/S7-looking fronts so the decoders are reached.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        (
            0u16..300,
            any::<bool>(),
            prop::sample::select(vec![0x32u8, 0x72]),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(len, eot, protocol, rest)| {
                let mut out = vec![0x03, 0x00];
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&[0x02, 0xF0, if eot { 0x80 } else { 0 }, protocol]);
                out.extend_from_slice(&rest);
                out
            }),
    ]
}

fn touch(event: &Event<'_>) {
    match event {
        Event::S7 { message, .. } => {
            let _ =
                (message.function(), message.info(), message.error(), message.transaction_key(), message.pi_service());
            assert!(message.items().iter().count() <= s7comm::MAX_ITEMS);
            assert!(message.data_items().iter().count() <= s7comm::MAX_ITEMS);
            if let Pdu::PiService { parameter, .. } = message.pdu {
                let _ = s7comm::PiBlocks::new(parameter).iter().count();
            }
            let _ = format!("{message:?}");
        }
        Event::S7Plus { message, .. } => {
            let _ = (message.info(), message.is_request(), format!("{message:?}"));
        }
        Event::Cotp(pdu) => {
            let _ = (pdu.parameters().src_tsap(), pdu.parameters().tpdu_size(), pdu.parameters().iter().count());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_upholds_the_contract(input in stream()) {
        let mut st = S7Stream::new(512);
        let mut offset = 0;
        let mut steps = 0;
        while offset < input.len() {
            steps += 1;
            prop_assert!(steps <= input.len());
            let rest = &input[offset..];
            match st.parse(rest) {
                Parse::Message { message, consumed } => {
                    prop_assert!((1..=rest.len()).contains(&consumed));
                    touch(&message);
                    offset += consumed;
                }
                Parse::Skip { len, anomaly } => {
                    prop_assert!((1..=rest.len()).contains(&len));
                    prop_assert!(anomaly.id.starts_with("s7comm."));
                    offset += len;
                }
                Parse::Incomplete { needed } => {
                    prop_assert!(needed >= 1);
                    break;
                }
            }
        }
        let _ = s7comm::probe(&input);
        prop_assert!((1..=input.len().max(1)).contains(&tpkt::resync_len(&input)));
        let _ = cotp::decode(&input);
        let _ = s7comm::decode(input.get(7..).unwrap_or(&[]));
        let _ = s7commplus::decode(input.get(7..).unwrap_or(&[]));
    }

    #[test]
    fn emitted_read_write_jobs_round_trip(
        write in any::<bool>(),
        pdu_reference in any::<u16>(),
        items in prop::collection::vec(
            (prop::sample::select(vec![0x81u8, 0x82, 0x83, 0x84, 0x1C, 0x1D]), any::<u16>(), 1u16..16, 0u32..0x1F_FFFF, 0u8..8),
            1..20,
        ),
        fragment in 1usize..64,
    ) {
        let mut parameter = vec![if write { 0x05 } else { 0x04 }, u8::try_from(items.len()).unwrap()];
        let mut data = Vec::new();
        for (i, (area, db, length, byte, bit)) in items.iter().enumerate() {
            // Counters and timers are numbered; every other area is bit-addressed.
            let address = if matches!(*area, 0x1C | 0x1D) { *byte } else { (byte << 3) | u32::from(*bit) };
            parameter.extend_from_slice(&[0x12, 0x0A, 0x10, 0x02]);
            parameter.extend_from_slice(&length.to_be_bytes());
            parameter.extend_from_slice(&db.to_be_bytes());
            parameter.push(*area);
            parameter.extend_from_slice(&address.to_be_bytes()[1..]);
            if write {
                data.extend_from_slice(&[0x00, 0x04]);
                data.extend_from_slice(&(length * 8).to_be_bytes());
                data.extend(std::iter::repeat_n(0xA5, usize::from(*length)));
                if length % 2 == 1 && i + 1 < items.len() {
                    data.push(0);
                }
            }
        }
        let mut tsdu = vec![0x32, 0x01, 0x00, 0x00];
        tsdu.extend_from_slice(&pdu_reference.to_be_bytes());
        tsdu.extend_from_slice(&u16::try_from(parameter.len()).unwrap().to_be_bytes());
        tsdu.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        tsdu.extend_from_slice(&parameter);
        tsdu.extend_from_slice(&data);
        // COTP DTs of at most `fragment` bytes each.
        let mut wire = Vec::new();
        let chunks: Vec<&[u8]> = tsdu.chunks(fragment).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            wire.extend_from_slice(&[0x03, 0x00]);
            wire.extend_from_slice(&u16::try_from(chunk.len() + 7).unwrap().to_be_bytes());
            wire.extend_from_slice(&[0x02, 0xF0, if i + 1 == chunks.len() { 0x80 } else { 0x00 }]);
            wire.extend_from_slice(chunk);
        }
        let mut st = S7Stream::default();
        let mut offset = 0;
        let mut decoded = None;
        while offset < wire.len() {
            let Parse::Message { message, consumed } = st.parse(&wire[offset..]) else { panic!() };
            offset += consumed;
            if let Event::S7 { message, fragments } = message {
                prop_assert_eq!(fragments as usize, chunks.len());
                prop_assert!(message.anomalies.is_empty(), "{:?}", message.anomalies);
                prop_assert_eq!(message.pdu_reference, pdu_reference);
                let got: Vec<_> = message.items().iter().map(|item| {
                    let any = item.any.unwrap();
                    prop_assert_eq!(any.transport_size, TransportSize::BYTE);
                    Ok((any.area.0, any.db_number, any.length, any.byte_address, any.bit_address))
                }).collect::<Result<_, TestCaseError>>()?;
                let want: Vec<_> = items
                    .iter()
                    .map(|(a, d, l, b, bit)| (*a, *d, *l, *b, if matches!(*a, 0x1C | 0x1D) { 0 } else { *bit }))
                    .collect();
                prop_assert_eq!(got, want);
                if write {
                    let lengths: Vec<_> = message.data_items().iter().map(|d| d.value.len()).collect();
                    let want: Vec<_> = items.iter().map(|i| usize::from(i.2)).collect();
                    prop_assert_eq!(lengths, want);
                }
                prop_assert_eq!(message.items().iter().next().map(|i| Area(i.any.unwrap().area.0)), Some(Area(items[0].0)));
                decoded = Some(());
            }
        }
        prop_assert!(decoded.is_some());
    }
}
