//! Compile errors of `#[giocci::remote]`, checked against their expected
//! output in `ui/*.stderr`. Regenerate with `TRYBUILD=overwrite` after an
//! intended change, and read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
