//! The warehouse ports' conformance suite against MariaDB, logged in as the functions' user
//! with exactly its grants (`donut_testkit::conformance`; the same suite runs against the
//! in-memory double in crates/testkit/tests/conformance.rs).

donut_testkit::warehouse_conformance!(donut_testkit::conformance::MariaDb::with);
