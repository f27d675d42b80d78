//! `cargo run -p orrery-sdk-gen` regenerates `sdks/`; `-- --check` fails when it is stale.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sdk-gen lives in the repository");
    let check = std::env::args().any(|a| a == "--check");
    let result = if check {
        orrery_sdk_gen::stale(repo).map(|stale| {
            if stale.is_empty() {
                println!("sdks/ is fresh");
                true
            } else {
                for path in &stale {
                    eprintln!("stale: sdks/{}", path.display());
                }
                eprintln!("run `cargo run -p orrery-sdk-gen` and commit sdks/");
                false
            }
        })
    } else {
        orrery_sdk_gen::write(repo).map(|count| {
            println!("wrote {count} files under sdks/");
            true
        })
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("orrery-sdk-gen: {err:#}");
            ExitCode::from(2)
        }
    }
}
