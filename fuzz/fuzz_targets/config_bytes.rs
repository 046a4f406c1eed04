//! Any bytes as plugin configuration: `load` answers with a plan or problems, never a panic. A
//! document the module's reader accepts without a problem reads the same through the serde
//! derives (the reference for the JSON shape).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::config::{self, Config};

fuzz_target!(|data: &[u8]| {
    let loaded = config::load(data);
    if let Err(problems) = &loaded {
        assert!(!problems.is_empty(), "refused without a problem");
    }
    if let Ok(parsed) = config::parse(data)
        && parsed.problems.is_empty()
    {
        let derived: Config = serde_json::from_slice(data)
            .unwrap_or_else(|e| panic!("read accepts what serde refuses: {e}"));
        assert_eq!(derived, parsed.config, "read and serde disagree");
    }
});
