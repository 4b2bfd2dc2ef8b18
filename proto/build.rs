//! Compiles `proto/truetime.proto` with protox, a protobuf compiler written
//! in Rust, so a build needs no system `protoc`.
//!
//! Server traits get default methods that answer UNIMPLEMENTED, so a
//! server written against an older version of the file (a test double, a
//! benchmark) still builds when an RPC is added.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/truetime.proto");
    let descriptors = protox::compile(["proto/truetime.proto"], ["proto"])?;
    // The encoded descriptors, for server reflection.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("truetime_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
