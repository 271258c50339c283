//! The AWS provider's resources used by Donut-States, generated at build time.
#![allow(clippy::all, missing_docs, unused)]

pulumi_gestalt_rust::include_provider!("aws");
