//! DNP3 application layer: the input is one application fragment; decode it with the default
//! limits and with small ones, walk every object header and every point, and check the limits.

#![no_main]

use dissectors::dnp3::{self, application, Limits, PointValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::DEFAULT, Limits { max_objects: 4, max_points: 16 }] {
        let Ok(message) = application::parse_with_limits(data, limits) else {
            assert!(data.len() < 2);
            return;
        };
        assert!(message.object_count <= limits.max_objects);
        let info = message.info();
        assert!(!info.name.is_empty());
        let _ = (message.function.name(), message.is_response(), message.is_unsolicited(), message.sequence());
        let _ = message.iin.map(|iin| (iin.names().count(), iin.is_error()));
        let mut points = 0u64;
        let mut headers = 0usize;
        for object in message.objects() {
            headers += 1;
            let _ = (object.group_name(), dnp3::object_size(object.header.group, object.header.variation));
            for point in object.points() {
                points += 1;
                if let PointValue::Crob(crob) = point.value {
                    let _ = (crob.op_type_name(), crob.trip_close_name(), dnp3::command_status_name(crob.status));
                }
                std::hint::black_box(format!("{point:?}"));
            }
        }
        assert_eq!(headers, message.object_count);
        assert!(points <= u64::from(limits.max_points));
        std::hint::black_box(format!("{message:?}"));
    }
});
