//! Compile-time checks: wiring and codec mistakes fail to compile with a message that names the
//! user's function or type, on the user's token. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --test compile_errors` after an intended change, and read them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
