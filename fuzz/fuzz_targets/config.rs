//! Arbitrary text as a timemaster or timeslave configuration file: the
//! daemons' own parsers must answer with a config or a one-line error,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = timemaster::config::parse(text, "fuzz.toml") {
        assert!(!e.contains('\n'), "a multi-line error: {e}");
    }
    let _ = timeslave::config::parse(text, "fuzz.toml");
});
