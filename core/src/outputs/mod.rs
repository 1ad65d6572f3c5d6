//! The JSON files a job leaves beside its media, one shape for everyone:
//! the worker writes them, and whoever reads them back (the API, tests,
//! a client) reads the same types rather than guessing at field names.
//!
//! Only the data lives here; the worker's stages compute it. Each file has
//! a `FILE_NAME` and a `FORMAT_VERSION`, bumped when its shape changes
//! incompatibly. [`crate::transcript`] holds `transcript.json` the same way.

pub mod analysis;
pub mod clips;
