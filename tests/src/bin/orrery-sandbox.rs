//! The sandbox helper for the end-to-end tests: the servers they start run inside the test
//! binary, so "re-running its own binary" would start the test harness. This runs the same
//! helper code the `orrery` binary runs for `orrery sandbox-exec`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    #[cfg(target_os = "linux")]
    if args.get(1).map(String::as_str) == Some("sandbox-exec") {
        orrery_api::domain::terminal::confine::helper_main(&args[2..]);
    }
    eprintln!("usage: orrery-sandbox sandbox-exec --workdir DIR … -- COMMAND");
    std::process::exit(2);
}
