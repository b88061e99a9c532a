//! Builds zip archives byte by byte, including the malformed and hostile ones
//! a real zip writer refuses to make (duplicate names, `..`, symlinks).

use std::io::Write;

/// One entry of a test archive.
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
    /// Deflate the data (else store it).
    pub deflate: bool,
    /// A Unix symlink entry.
    pub symlink: bool,
}

impl Entry {
    pub fn file(name: &str, data: impl Into<Vec<u8>>) -> Self {
        Entry { name: name.into(), data: data.into(), deflate: true, symlink: false }
    }

    pub fn symlink(name: &str, target: &str) -> Self {
        Entry { name: name.into(), data: target.as_bytes().to_vec(), deflate: false, symlink: true }
    }
}

/// The archive of `entries`, in order.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let crc = crc32fast::hash(&entry.data);
        let (method, payload) = if entry.deflate {
            let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&entry.data).expect("deflate");
            (8u16, encoder.finish().expect("deflate"))
        } else {
            (0u16, entry.data.clone())
        };
        let offset = out.len() as u32;
        let name = entry.name.as_bytes();
        // Local file header.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(name);
        out.extend_from_slice(&payload);
        // Central directory header.
        let mode: u32 = if entry.symlink { 0o120_777 } else { 0o100_644 };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        central.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Every file of a folder (the plan folder), as `upload-artifact` would pack it.
pub fn folder(dir: &std::path::Path) -> Vec<u8> {
    let mut entries: Vec<Entry> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            Entry::file(&name, std::fs::read(&path).expect("read"))
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    build(&entries)
}
