//! A tar reader: bytes in, entries out. It reads what Go's `archive/tar`
//! (helm's reader) reads, so the entries it returns are the ones helm sees:
//! ustar, GNU and v7 headers, the ustar `prefix` (and star's shorter one),
//! GNU long names (`L`), pax extended headers (`x`, applying to the next
//! entry: `path`, `linkpath`, `size`) and global ones (`g`, returned as an
//! entry helm skips; Go applies them to nothing). An entry of a type that
//! carries no data in Go (links, devices, fifos, folders, and an old-style
//! file whose name ends in `/`) has no data here either, whatever its size
//! field says, so both stay in step. Sparse files (`S`, `GNU.sparse.*`) are
//! refused: their logical size is not their bytes. The first zero block ends
//! the archive, as in Go. Pure; no policy (which entries are acceptable is
//! the caller's).

use std::collections::BTreeMap;

const BLOCK: usize = 512;
/// The largest `L`, `x` or `g` header's data (Go's `maxSpecialFileSize`).
pub const MAX_SPECIAL_BYTES: usize = 1 << 20;

/// What an entry is, from its type flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`, `\0` (without a trailing `/`), `7`.
    File,
    /// `5`, or `\0` with a name ending in `/`.
    Dir,
    /// `1`.
    Hardlink,
    /// `2`.
    Symlink,
    /// `3`.
    CharDevice,
    /// `4`.
    BlockDevice,
    /// `6`.
    Fifo,
    /// `g`: a pax global header (helm skips it).
    GlobalHeader,
    /// Any other type flag (`K` alone, `V`, `M`, vendor types): data as its size says, as Go reads it.
    Other(u8),
}

/// One entry as Go would return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as raw bytes (after the prefix, a pax `path` and a GNU long name are applied).
    pub name: Vec<u8>,
    /// The link target (links only; raw bytes).
    pub link: Vec<u8>,
    pub kind: Kind,
    pub data: &'a [u8],
}

/// Why the bytes are not a tar archive this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    #[error("it ends inside an entry (at byte {0})")]
    Truncated(usize),
    #[error("the header at byte {0} has a wrong checksum")]
    Checksum(usize),
    #[error("the header at byte {at} has an invalid `{field}` field")]
    Field { at: usize, field: &'static str },
    #[error("the extended header at byte {0} is malformed")]
    Pax(usize),
    #[error("the extended header at byte {0} is larger than {MAX_SPECIAL_BYTES} bytes")]
    SpecialTooLarge(usize),
    #[error("the entry at byte {0} is a sparse file")]
    Sparse(usize),
    #[error("a zero block at byte {0} is followed by a header")]
    ZeroThenHeader(usize),
    #[error("it has more than {0} entries")]
    TooManyEntries(usize),
}

/// Every entry of `bytes` (an uncompressed tar stream), at most `max_entries` headers of any kind.
pub fn entries(bytes: &[u8], max_entries: usize) -> Result<Vec<Entry<'_>>, TarError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut headers = 0usize;
    // Pending overrides for the next entry (Go keeps them only within one `Next`).
    let mut pax: Option<BTreeMap<String, Vec<u8>>> = None;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    loop {
        let Some(block) = block_at(bytes, pos)? else { return Ok(out) };
        if block.iter().all(|b| *b == 0) {
            // End of archive: a second zero block, or the end of the stream; a header after one zero block is an error.
            return match block_at(bytes, pos + BLOCK)? {
                Some(next) if !next.iter().all(|b| *b == 0) => Err(TarError::ZeroThenHeader(pos)),
                _ => Ok(out),
            };
        }
        headers += 1;
        if headers > max_entries {
            return Err(TarError::TooManyEntries(max_entries));
        }
        let at = pos;
        check_checksum(block, at)?;
        let typeflag = block[156];
        let mut name = c_string(&block[0..100]).to_vec();
        let mut link = c_string(&block[157..257]).to_vec();
        let magic = &block[257..263];
        if magic == b"ustar\0" {
            // star keeps a 131-byte prefix and a `tar\0` trailer; ustar and pax a 155-byte prefix.
            let prefix = if &block[508..512] == b"tar\0" { &block[345..476] } else { &block[345..500] };
            let prefix = c_string(prefix);
            if !prefix.is_empty() {
                let mut full = prefix.to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
        }
        let mut size = numeric(&block[124..136]).ok_or(TarError::Field { at, field: "size" })?;
        pos += BLOCK;
        match typeflag {
            b'x' | b'g' | b'L' | b'K' => {
                let len = usize::try_from(size).map_err(|_| TarError::SpecialTooLarge(at))?;
                if len > MAX_SPECIAL_BYTES {
                    return Err(TarError::SpecialTooLarge(at));
                }
                let data = data_at(bytes, pos, len)?;
                pos += padded(len);
                match typeflag {
                    b'x' => pax = Some(parse_pax(data, at)?),
                    b'g' => {
                        parse_pax(data, at)?;
                        pax = None;
                        long_name = None;
                        long_link = None;
                        out.push(Entry { name, link: Vec::new(), kind: Kind::GlobalHeader, data });
                    }
                    b'L' => long_name = Some(c_string(data).to_vec()),
                    _ => long_link = Some(c_string(data).to_vec()),
                }
                continue;
            }
            b'S' => return Err(TarError::Sparse(at)),
            _ => {}
        }
        if let Some(records) = pax.take() {
            if records.keys().any(|k| k.starts_with("GNU.sparse.")) {
                return Err(TarError::Sparse(at));
            }
            if let Some(path) = records.get("path") {
                name = path.clone();
            }
            if let Some(target) = records.get("linkpath") {
                link = target.clone();
            }
            if let Some(value) = records.get("size") {
                size = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse().ok())
                    .ok_or(TarError::Pax(at))?;
            }
        }
        if let Some(long) = long_name.take() {
            if !long.is_empty() {
                name = long;
            }
        }
        if let Some(long) = long_link.take() {
            if !long.is_empty() {
                link = long;
            }
        }
        let kind = match typeflag {
            b'\0' if name.ends_with(b"/") => Kind::Dir,
            b'0' | b'\0' | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::CharDevice,
            b'4' => Kind::BlockDevice,
            b'6' => Kind::Fifo,
            other => Kind::Other(other),
        };
        let header_only = matches!(
            kind,
            Kind::Dir | Kind::Hardlink | Kind::Symlink | Kind::CharDevice | Kind::BlockDevice | Kind::Fifo
        );
        let len = if header_only { 0 } else { usize::try_from(size).map_err(|_| TarError::Truncated(pos))? };
        let data = data_at(bytes, pos, len)?;
        pos += padded(len);
        if !matches!(kind, Kind::Hardlink | Kind::Symlink) {
            link.clear();
        }
        out.push(Entry { name, link, kind, data });
    }
}

/// The 512-byte block at `pos`: `None` at the very end, an error when the stream stops inside it.
fn block_at(bytes: &[u8], pos: usize) -> Result<Option<&[u8]>, TarError> {
    match bytes.len().checked_sub(pos) {
        None | Some(0) => Ok(None),
        Some(left) if left < BLOCK => Err(TarError::Truncated(pos)),
        Some(_) => Ok(Some(&bytes[pos..pos + BLOCK])),
    }
}

/// `len` bytes at `pos` and their padding to a block, all present.
fn data_at(bytes: &[u8], pos: usize, len: usize) -> Result<&[u8], TarError> {
    let end = pos.checked_add(padded(len)).ok_or(TarError::Truncated(pos))?;
    if end > bytes.len() {
        return Err(TarError::Truncated(pos));
    }
    Ok(&bytes[pos..pos + len])
}

fn padded(len: usize) -> usize {
    len.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// The bytes before the first NUL.
fn c_string(field: &[u8]) -> &[u8] {
    field.iter().position(|b| *b == 0).map_or(field, |end| &field[..end])
}

/// A numeric field: octal (spaces and NULs around it), or GNU base-256 (positive only).
fn numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] != 0x80 {
            return None;
        }
        return field[1..].iter().try_fold(0u64, |acc, b| acc.checked_mul(256)?.checked_add(u64::from(*b)));
    }
    let start = field.iter().position(|b| *b != b' ' && *b != 0).unwrap_or(field.len());
    let end = field.iter().rposition(|b| *b != b' ' && *b != 0).map_or(start, |i| i + 1);
    let digits = &field[start..end.max(start)];
    digits.iter().try_fold(0u64, |acc, b| match b {
        b'0'..=b'7' => acc.checked_mul(8)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// Go accepts the unsigned or the signed sum of the header with the checksum field as spaces.
fn check_checksum(block: &[u8], at: usize) -> Result<(), TarError> {
    let stored = numeric(&block[148..156]).ok_or(TarError::Field { at, field: "chksum" })?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (index, byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) { b' ' } else { *byte };
        unsigned += u64::from(byte);
        signed += i64::from(byte as i8);
    }
    if stored == unsigned || i64::try_from(stored).ok() == Some(signed) {
        Ok(())
    } else {
        Err(TarError::Checksum(at))
    }
}

/// pax records, `<length> <key>=<value>\n` each, as Go parses them (strictly).
fn parse_pax(data: &[u8], at: usize) -> Result<BTreeMap<String, Vec<u8>>, TarError> {
    let bad = || TarError::Pax(at);
    let mut records = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let length: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        if length < 5 || length > rest.len() || length <= space + 1 {
            return Err(bad());
        }
        let record = &rest[space + 1..length];
        let Some((&b'\n', record)) = record.split_last() else { return Err(bad()) };
        let equals = record.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        let key = std::str::from_utf8(&record[..equals]).map_err(|_| bad())?;
        let value = &record[equals + 1..];
        if key.is_empty() || (matches!(key, "path" | "linkpath" | "uname" | "gname") && value.contains(&0)) {
            return Err(bad());
        }
        records.insert(key.to_owned(), value.to_vec());
        rest = &rest[length..];
    }
    Ok(records)
}

/// Building archives for tests (here and in the chart checks).
#[cfg(test)]
pub mod build {
    /// One header block: `name` (split into prefix and name when `prefix` is given), type, size, link.
    pub fn header(name: &[u8], prefix: &[u8], typeflag: u8, size: usize, link: &[u8]) -> Vec<u8> {
        let mut block = vec![0u8; 512];
        block[..name.len()].copy_from_slice(name);
        block[100..107].copy_from_slice(b"0000644");
        block[108..115].copy_from_slice(b"0000000");
        block[116..123].copy_from_slice(b"0000000");
        block[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        block[136..147].copy_from_slice(b"00000000000");
        block[156] = typeflag;
        block[157..157 + link.len()].copy_from_slice(link);
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        block[345..345 + prefix.len()].copy_from_slice(prefix);
        seal(&mut block);
        block
    }

    /// Writes the checksum of a header block.
    pub fn seal(block: &mut [u8]) {
        block[148..156].copy_from_slice(b"        ");
        let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
        block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    /// A header and its data, padded.
    pub fn entry(name: &str, typeflag: u8, data: &[u8], link: &str) -> Vec<u8> {
        let mut out = header(name.as_bytes(), b"", typeflag, data.len(), link.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    pub fn file(name: &str, data: &[u8]) -> Vec<u8> {
        entry(name, b'0', data, "")
    }

    /// A pax record `key=value`.
    pub fn pax_record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut length = body.len() + 1;
        while format!("{length}{body}").len() != length {
            length += 1;
        }
        format!("{length}{body}")
    }

    /// Entries followed by the two zero blocks.
    pub fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut out: Vec<u8> = entries.concat();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn names(bytes: &[u8]) -> Vec<(String, Kind, String)> {
        entries(bytes, 100)
            .unwrap()
            .into_iter()
            .map(|e| {
                (String::from_utf8_lossy(&e.name).into_owned(), e.kind, String::from_utf8_lossy(e.data).into_owned())
            })
            .collect()
    }

    #[test]
    fn ustar_files_folders_and_prefixes() {
        let mut prefixed = header(b"values.yaml", b"chart/deep", b'0', 3, b"");
        prefixed.extend_from_slice(b"a: 1");
        prefixed.truncate(515);
        prefixed.resize(1024, 0);
        let bytes = archive(&[
            entry("chart/", b'5', b"", ""),
            file("chart/Chart.yaml", b"name: chart\n"),
            prefixed,
            entry("chart/old/", b'\0', b"", ""),
        ]);
        assert_eq!(
            names(&bytes),
            [
                ("chart/".into(), Kind::Dir, String::new()),
                ("chart/Chart.yaml".into(), Kind::File, "name: chart\n".into()),
                ("chart/deep/values.yaml".into(), Kind::File, "a: ".into()),
                ("chart/old/".into(), Kind::Dir, String::new()),
            ]
        );
    }

    #[test]
    fn long_names_and_pax_headers_rename_the_next_entry() {
        let long = format!("chart/{}/values.schema.json", "d".repeat(200));
        let pax = pax_record("path", "chart/from-pax.json") + &pax_record("mtime", "1.5");
        let global = pax_record("path", "chart/ignored-by-go");
        let bytes = archive(&[
            entry("././@LongLink", b'L', format!("{long}\0").as_bytes(), ""),
            file("chart/short", b"x"),
            entry("PaxHeaders/x", b'x', pax.as_bytes(), ""),
            file("chart/short2", b"y"),
            entry("pax_global_header", b'g', global.as_bytes(), ""),
            file("chart/after-global", b"z"),
            // Both overrides: the GNU long name wins, as in Go.
            entry("PaxHeaders/y", b'x', pax_record("path", "chart/pax-loses").as_bytes(), ""),
            entry("././@LongLink", b'L', b"chart/long-wins", ""),
            file("chart/raw", b"w"),
        ]);
        let got: Vec<String> = names(&bytes).into_iter().map(|(n, _, _)| n).collect();
        assert_eq!(
            got,
            [long.as_str(), "chart/from-pax.json", "pax_global_header", "chart/after-global", "chart/long-wins"]
        );
    }

    #[test]
    fn a_pax_size_decides_where_the_next_header_is() {
        // The header says 0 bytes; the pax `size` says 600: the data is 600 bytes, and the next header follows it.
        let mut data = vec![b'a'; 600];
        data.resize(1024, 0);
        let mut bytes = entry("PaxHeaders/x", b'x', pax_record("size", "600").as_bytes(), "");
        bytes.extend(header(b"chart/big", b"", b'0', 0, b""));
        bytes.extend(data);
        bytes.extend(file("chart/next", b"n"));
        bytes.extend([0u8; 1024]);
        let got = entries(&bytes, 100).unwrap();
        assert_eq!(got[0].data.len(), 600);
        assert_eq!(got[1].name, b"chart/next");
    }

    #[test]
    fn header_only_types_carry_no_data_whatever_their_size_says() {
        // A folder header claiming 512 bytes: Go reads the next header right after it, and so do we.
        let mut bytes = header(b"chart/dir/", b"", b'5', 512, b"");
        bytes.extend(file("chart/hidden/values.schema.json", b"{}"));
        bytes.extend(header(b"chart/link", b"", b'2', 512, b"/etc/passwd"));
        bytes.extend(file("chart/after-link", b"x"));
        bytes.extend([0u8; 1024]);
        let got = entries(&bytes, 100).unwrap();
        let kinds: Vec<(&[u8], Kind, &[u8])> =
            got.iter().map(|e| (e.name.as_slice(), e.kind, e.link.as_slice())).collect();
        assert_eq!(
            kinds,
            [
                (&b"chart/dir/"[..], Kind::Dir, &b""[..]),
                (b"chart/hidden/values.schema.json", Kind::File, b""),
                (b"chart/link", Kind::Symlink, b"/etc/passwd"),
                (b"chart/after-link", Kind::File, b""),
            ]
        );
    }

    #[test]
    fn every_type_is_told() {
        let bytes = archive(&[
            entry("a", b'1', b"", "b"),
            entry("c", b'3', b"", ""),
            entry("d", b'4', b"", ""),
            entry("e", b'6', b"", ""),
            entry("f", b'7', b"data", ""),
            entry("g", b'V', b"vol", ""),
        ]);
        let kinds: Vec<Kind> = names(&bytes).into_iter().map(|(_, k, _)| k).collect();
        assert_eq!(
            kinds,
            [Kind::Hardlink, Kind::CharDevice, Kind::BlockDevice, Kind::Fifo, Kind::File, Kind::Other(b'V')]
        );
    }

    #[test]
    fn base256_sizes_and_bad_fields() {
        let mut block = header(b"chart/x", b"", b'0', 0, b"");
        block[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        seal(&mut block);
        block.extend(b"abc");
        block.resize(1024, 0);
        block.extend([0u8; 1024]);
        assert_eq!(entries(&block, 10).unwrap()[0].data, b"abc");

        let mut negative = header(b"chart/x", b"", b'0', 0, b"");
        negative[124] = 0xff;
        seal(&mut negative);
        negative.extend([0u8; 1024]);
        assert_eq!(entries(&negative, 10), Err(TarError::Field { at: 0, field: "size" }));

        let mut corrupt = header(b"chart/x", b"", b'0', 0, b"");
        corrupt[0] = b'y';
        assert_eq!(entries(&corrupt, 10), Err(TarError::Checksum(0)));
    }

    #[test]
    fn malformed_archives_are_errors() {
        let one = file("chart/a", b"hello");
        let cases: Vec<(Vec<u8>, TarError)> = vec![
            (one[..700].to_vec(), TarError::Truncated(512)),
            (one[..300].to_vec(), TarError::Truncated(0)),
            ([vec![0u8; 512], one.clone()].concat(), TarError::ZeroThenHeader(0)),
            (archive(&[entry("p", b'x', b"5 a=b\n", ""), one.clone()]), TarError::Pax(0)),
            (archive(&[entry("p", b'x', b"9 path=x", ""), one.clone()]), TarError::Pax(0)),
            (archive(&[entry("p", b'x', b"12 path=a\0b\n", ""), one.clone()]), TarError::Pax(0)),
            (archive(&[entry("p", b'x', pax_record("size", "-1").as_bytes(), ""), one.clone()]), TarError::Pax(1024)),
            (
                archive(&[entry("p", b'x', pax_record("GNU.sparse.major", "1").as_bytes(), ""), one.clone()]),
                TarError::Sparse(1024),
            ),
            (archive(&[entry("s", b'S', b"", "")]), TarError::Sparse(0)),
            (archive(&[one.clone(), one.clone(), one.clone()]), TarError::TooManyEntries(2)),
        ];
        for (bytes, expected) in cases {
            assert_eq!(entries(&bytes, 2), Err(expected.clone()), "{expected}");
        }
        let mut huge = header(b"././@LongLink", b"", b'L', MAX_SPECIAL_BYTES + 1, b"");
        huge.resize(512 + MAX_SPECIAL_BYTES + 512, b'a');
        assert_eq!(entries(&huge, 10), Err(TarError::SpecialTooLarge(0)));
        // The end: two zero blocks, one, or none at a block boundary (what follows is not read).
        for end in [vec![0u8; 1024], vec![0u8; 512], Vec::new(), [vec![0u8; 1024], b"junk".to_vec()].concat()] {
            assert_eq!(entries(&[one.clone(), end].concat(), 10).unwrap().len(), 1);
        }
    }
}
