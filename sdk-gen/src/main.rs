//! SDK generation is the subject of its own issue; until it lands this binary says so and fails,
//! rather than pretending to have written anything.

fn main() {
    eprintln!("orrery-sdk-gen: SDK generation is not built yet (see the SDK generation issue)");
    std::process::exit(2);
}
