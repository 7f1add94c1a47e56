//! Build script of the `streams` crate: lets the exactly-once crash-loop test know at compile
//! time whether a broker with full transaction support was named, so without one the test is
//! reported as ignored (not run) rather than passed.

fn main() {
    println!("cargo::rerun-if-env-changed=STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP");
    println!("cargo::rustc-check-cfg=cfg(transactional_broker)");
    if std::env::var_os("STREAMS_TEST_TRANSACTIONAL_BOOTSTRAP").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=transactional_broker");
    }
}
