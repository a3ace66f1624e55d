//! Generates the prost types from `protos/` with a vendored protoc, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["protos/trawl/v1/task.proto", "protos/trawl/v1/result.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    prost_build::Config::new()
        .protoc_executable(protoc)
        .bytes(["."])
        .compile_protos(&protos, &["protos"])?;
    Ok(())
}
