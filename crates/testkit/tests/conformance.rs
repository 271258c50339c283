//! The warehouse ports' conformance suite against the in-memory double
//! (`donut_testkit::conformance`; the same suite runs against MariaDB in
//! crates/warehouse/tests/conformance.rs).

donut_testkit::warehouse_conformance!(donut_testkit::conformance::Mem::with);
