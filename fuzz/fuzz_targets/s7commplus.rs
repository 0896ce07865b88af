//! S7comm-plus: the input is a whole TSDU, decoded as a first fragment and as a continuation;
//! every field is touched.

#![no_main]

use dissectors::s7commplus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for result in [s7commplus::decode(data), s7commplus::decode_continuation(data)] {
        if let Ok(message) = result {
            let _ = (message.info(), message.is_request(), message.is_response(), message.is_notification());
            let _ = (message.function.map(|f| f.name()), message.opcode.map(|o| o.name()), message.version.name());
            assert!(message.data.len() <= data.len());
            assert!(message.digest.is_none_or(|d| d.len() == s7commplus::DIGEST_LEN));
            std::hint::black_box(format!("{message:?}"));
        }
    }
});
