//! Any bytes into the HTTP request head parser: never panics, a complete head lies inside the
//! bytes and within the head limit, and whatever parses keeps its fields' promises (a path
//! without '?', lowercase header names).

#![no_main]

use tickwire_net::http::{HEAD_MAX, parse_head};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(Some((request, length))) = parse_head(bytes) {
        assert!(length <= bytes.len() && length <= HEAD_MAX, "head of {length} bytes");
        assert!(!request.path.contains('?'), "{request:?}");
        assert!(
            request
                .headers
                .iter()
                .all(|(name, _)| !name.bytes().any(|byte| byte.is_ascii_uppercase())),
            "{request:?}"
        );
        // Parsing the head alone gives the same request, of the same length.
        let (again, again_length) = parse_head(&bytes[..length])
            .expect("parses")
            .expect("complete");
        assert_eq!(again_length, length);
        assert_eq!(format!("{again:?}"), format!("{request:?}"));
    }
});
