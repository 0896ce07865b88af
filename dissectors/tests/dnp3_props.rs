//! Property tests: the incremental contract of the link layer holds for any bytes; link frames
//! built by a test-only emitter round-trip; the transport reassembler stays bounded and puts
//! segmented fragments back together; the application parser and its iterators are total and
//! bounded for any fragment.

// An integration-test crate: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dissectors::dnp3::{self, application, link, Limits, TransportReassembler};
use dissectors::{Parse, Probe};
use proptest::prelude::*;

/// Emits a link frame: header with CRC, user data in 16-byte blocks each with its CRC.
fn emit(control: u8, destination: u16, source: u16, user_data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x05, 0x64, u8::try_from(user_data.len() + 5).unwrap(), control];
    out.extend_from_slice(&destination.to_le_bytes());
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(&link::crc(&out).to_le_bytes());
    for block in user_data.chunks(16) {
        out.extend_from_slice(block);
        out.extend_from_slice(&link::crc(block).to_le_bytes());
    }
    out
}

/// Arbitrary bytes, biased towards link-frame-looking fronts and towards valid frames.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..700),
        prop::collection::vec(any::<u8>(), 0..700).prop_map(|mut v| {
            v.splice(0..0, [0x05, 0x64]);
            v
        }),
        prop::collection::vec(
            (any::<u8>(), any::<u16>(), any::<u16>(), prop::collection::vec(any::<u8>(), 0..250), 0usize..4),
            0..4
        )
        .prop_map(|frames| {
            let mut out = Vec::new();
            for (control, dst, src, data, junk) in frames {
                out.extend(emit(control, dst, src, &data));
                out.extend(vec![0x05; junk]);
            }
            out
        }),
    ]
}

/// Application fragments: random, or a plausible header followed by plausible object headers.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let header = (any::<u8>(), prop_oneof![0u8..=33, 129u8..=131, any::<u8>()]);
    let object = (
        prop_oneof![
            Just(1u8),
            Just(2),
            Just(3),
            Just(10),
            Just(12),
            Just(20),
            Just(30),
            Just(32),
            Just(41),
            Just(50),
            Just(60),
            Just(70),
            Just(80),
            Just(110),
            Just(120),
            any::<u8>()
        ],
        0u8..10,
        prop_oneof![
            Just(0x00u8),
            Just(0x01),
            Just(0x06),
            Just(0x07),
            Just(0x08),
            Just(0x17),
            Just(0x28),
            Just(0x5B),
            any::<u8>()
        ],
        prop::collection::vec(any::<u8>(), 0..40),
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (header, prop::collection::vec(object, 0..20)).prop_map(|((ac, fc), objects)| {
            let mut out = vec![ac, fc];
            if (129..=131).contains(&fc) {
                out.extend_from_slice(&[0, 0]);
            }
            for (g, v, q, rest) in objects {
                out.extend_from_slice(&[g, v, q]);
                out.extend_from_slice(&rest);
            }
            out
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn link_parse_upholds_the_contract(input in stream()) {
        match link::parse(&input) {
            Parse::Message { message, consumed } => {
                prop_assert!((1..=input.len()).contains(&consumed));
                prop_assert_eq!(consumed, message.frame_len());
                prop_assert_eq!(message.user_data().len() + 5, usize::from(message.length));
                let _ = (message.function().name(), message.is_link_only(), message.from_master(), format!("{message:?}"));
            }
            Parse::Incomplete { needed } => {
                prop_assert!(needed >= 1);
                prop_assert!(input.len() + needed <= link::MAX_FRAME_LEN);
            }
            Parse::Skip { len, anomaly } => {
                prop_assert!((1..=input.len()).contains(&len));
                prop_assert!(anomaly.id.starts_with("dnp3."));
            }
        }
        let _ = dnp3::probe(&input);
        let _ = link::resync_len(&input);
    }

    #[test]
    fn link_parsing_to_exhaustion_terminates(input in stream()) {
        let mut offset = 0;
        let mut steps = 0;
        while offset < input.len() {
            steps += 1;
            prop_assert!(steps <= input.len());
            match link::parse(&input[offset..]) {
                Parse::Message { consumed, .. } => offset += consumed,
                Parse::Skip { len, .. } => offset += len,
                Parse::Incomplete { .. } => break,
            }
        }
        prop_assert!(offset <= input.len());
    }

    #[test]
    fn emitted_frames_round_trip(control in any::<u8>(), dst in any::<u16>(), src in any::<u16>(), data in prop::collection::vec(any::<u8>(), 0..=250)) {
        let frame = emit(control, dst, src, &data);
        let Parse::Message { message, consumed } = link::parse(&frame) else {
            return Err(TestCaseError::fail(format!("not framed: {frame:02X?}")));
        };
        prop_assert_eq!(consumed, frame.len());
        prop_assert_eq!(message.control.0, control);
        prop_assert_eq!((message.destination, message.source), (dst, src));
        prop_assert_eq!(message.user_data(), &data[..]);
        prop_assert_eq!(dnp3::probe(&frame), Probe::Match);
        // Any flipped bit is caught: by the start check or a CRC (a CRC-16 detects every
        // single-bit error).
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x10;
            let accepted = matches!(link::parse(&bad), Parse::Message { .. });
            prop_assert!(!accepted, "bit flip at {} accepted", i);
        }
    }

    #[test]
    fn reassembly_is_bounded(segments in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..250), 0..40), max in 0usize..3000) {
        let mut reassembler = TransportReassembler::with_max_fragment(max);
        for segment in &segments {
            let out = reassembler.push(segment);
            if let Some(fragment) = out.fragment {
                prop_assert!(fragment.len() <= max);
            }
            prop_assert!(reassembler.pending_len() <= max);
        }
    }

    #[test]
    fn segmented_fragments_reassemble(payload in prop::collection::vec(any::<u8>(), 0..2048), seq in 0u8..64, size in 1usize..=249) {
        let mut reassembler = TransportReassembler::new();
        let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(size).collect() };
        let last = chunks.len() - 1;
        let mut got = None;
        for (i, chunk) in chunks.iter().enumerate() {
            let header = u8::from(i == last) << 7 | u8::from(i == 0) << 6 | ((usize::from(seq) + i) & 0x3F) as u8;
            let mut segment = vec![header];
            segment.extend_from_slice(chunk);
            let out = reassembler.push(&segment);
            prop_assert!(out.anomalies.is_empty());
            if let Some(fragment) = out.fragment {
                got = Some(fragment.to_vec());
            }
        }
        prop_assert_eq!(got, Some(payload));
    }

    #[test]
    fn application_parse_is_total_and_bounded(fragment in fragment(), max_objects in 0usize..30, max_points in 0u32..500) {
        let limits = Limits { max_objects, max_points };
        let Ok(message) = application::parse_with_limits(&fragment, limits) else {
            prop_assert!(fragment.len() < 2);
            return Ok(());
        };
        prop_assert!(message.object_count <= max_objects);
        let _ = (message.info(), message.is_response(), message.is_unsolicited(), message.iin.map(|i| i.names().count()));
        let mut objects = message.objects();
        let mut headers = 0;
        let mut points = 0u64;
        let mut consumed = 0usize;
        for object in objects.by_ref() {
            headers += 1;
            consumed += object.data.len();
            let _ = (object.group_name(), format!("{}", object.header));
            for point in object.points() {
                points += 1;
                let _ = format!("{point:?}");
            }
        }
        prop_assert_eq!(headers, message.object_count);
        prop_assert!(points <= u64::from(max_points));
        prop_assert!(consumed <= message.object_bytes().len());
        prop_assert_eq!(objects.anomalies(), message.anomalies.iter().filter(|k| k.id != "dnp3.unknown_function" && k.id != "dnp3.invalid_length").fold(dissectors::AnomalyList::new(), |mut l, k| { l.push(k); l }));
    }
}
