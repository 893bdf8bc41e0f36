//! The stored form of a schema snapshot: gzip-compressed JSON. A schema of a few thousand
//! tables is megabytes of JSON but compresses several-fold, which is what lets snapshots live
//! in DynamoDB items (400 KB each; the AWS store chunks what is still larger).

use std::io::{Read, Write};

use autodb_core::schema::SchemaSnapshot;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Snapshots larger than this when decompressed are refused as corrupt (a bound on memory).
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

pub fn encode(snapshot: &SchemaSnapshot) -> Vec<u8> {
    let json = serde_json::to_vec(snapshot).unwrap_or_default();
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

pub fn decode(bytes: &[u8]) -> Result<SchemaSnapshot, String> {
    let mut json = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_DECODED_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let snap = SchemaSnapshot {
            schemas: vec!["public".into(), "app".into()],
            ..Default::default()
        };
        assert_eq!(decode(&encode(&snap)).unwrap(), snap);
        assert!(decode(b"not gzip").is_err());
    }
}
