//! Compiles `proto/truetime.proto` with protox, a protobuf compiler written
//! in Rust, so a build needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/truetime.proto");
    let descriptors = protox::compile(["proto/truetime.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
