//! SHA-256 in hex, for files served and received, request bodies and
//! cassettes. A leaf.

use sha2::Digest;

/// The SHA-256 of `bytes`, in hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
