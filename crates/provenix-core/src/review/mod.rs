//! Review of sources: [`equiv`] compares a release archive with the VCS
//! tree of the same version, file by file.

pub mod equiv;
