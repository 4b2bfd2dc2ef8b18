//! For tests: the values a C compiler gives for expressions over system
//! headers (sizes, offsets, ioctl request numbers), so that the Rust
//! mirrors of kernel structures are checked against the headers
//! themselves.

use std::path::PathBuf;
use std::process::Command;

/// Compiles and runs a C program that includes `includes` and prints each
/// of `expressions` as an unsigned 64-bit number; returns the numbers.
/// Panics with the fix when no C compiler or header is there.
pub fn run(label: &str, includes: &str, expressions: &[&str]) -> Vec<u64> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tt-c-probe-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    let source = dir.join("probe.c");
    let binary = dir.join("probe");

    let mut program =
        format!("#include <stdio.h>\n#include <stddef.h>\n{includes}\nint main(void) {{\n");
    for expression in expressions {
        program += &format!("    printf(\"%llu\\n\", (unsigned long long)({expression}));\n");
    }
    program += "    return 0;\n}\n";
    std::fs::write(&source, program).expect("the probe source can be written");

    let compiled = Command::new("cc")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler `cc` ({e}); install one: apt-get install gcc")
        });
    assert!(
        compiled.status.success(),
        "the header probe did not compile; are the kernel headers installed \
         (apt-get install linux-libc-dev)?\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let output = Command::new(&binary)
        .output()
        .expect("the compiled probe runs");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.parse().expect("the probe prints numbers"))
        .collect()
}

/// An ioctl request number as the probe prints it (`Ioctl` is an
/// unsigned long with glibc, an int with musl).
#[allow(clippy::unnecessary_cast)]
pub fn request(number: libc::Ioctl) -> u64 {
    number as u64
}
