//! Chart archives committed in a chart folder (`charts/*.tgz`, packaged
//! subcharts): helm unpacks them in memory while rendering, loads the charts
//! inside and validates their `values.schema.json`, so an archive is checked
//! like the folder around it before any helm runs. Every `*.tgz` and
//! `*.tar.gz` of a chart tree is inflated in memory (bounded: compressed
//! size, inflated bytes actually produced, entries, archives inside archives)
//! and read with [`super::tar`]; it is refused when it is not a gzip'd tar,
//! when an entry is not a file or a folder (links, devices, fifos), when a
//! name is absolute, has an empty, `.` or `..` part, a `\`, a drive name, or
//! is not plain UTF-8 text, or when a cap is exceeded. Every schema inside is
//! checked as [`super::chart_schema::check_schema`] checks one in a folder,
//! and every dependency file inside must parse, with no `file://` entry
//! outside the archive.
//!
//! helm never resolves the `dependencies` of a chart inside an archive: its
//! loader takes a packaged chart's subcharts only from the archive's own
//! `charts/`, and `helm dependency build` reads only the top chart's list
//! (checked by [`super::charts`]). The `file://` rule is defence in depth.
//! Pure: bytes in, diagnostics out.

use std::io::Read;

use super::chart_schema::{check_schema, shown, SCHEMA_FILE};
use super::charts::{parse_manifest, DependencySource, DEPENDENCY_FILES, FILE_SCHEME};
use super::tar::{self, Kind};
use crate::base::diagnostic::Diagnostic;
use crate::base::repo_path;

/// The bounds of the archives of one chart folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Compressed bytes of one archive (nested ones included).
    pub max_compressed: usize,
    /// Inflated bytes of all the folder's archives together, nested ones included.
    pub max_inflated: u64,
    /// Tar headers of all the folder's archives together.
    pub max_entries: usize,
    /// Archives inside archives: an archive of the folder is at depth 1.
    pub max_depth: usize,
}

/// helm itself stops at 100 MiB inflated per chart; a vendored subchart is rarely over 1 MiB.
pub const ARCHIVE_LIMITS: ArchiveLimits = ArchiveLimits {
    max_compressed: 16 * 1024 * 1024,
    max_inflated: 128 * 1024 * 1024,
    max_entries: 20_000,
    max_depth: 4,
};

/// Diagnostics kept per archive.
const MAX_PROBLEMS: usize = 20;
/// Bytes of an entry name accepted.
const MAX_NAME_BYTES: usize = 4096;

const HINT: &str = "helm unpacks this archive while rendering; package the subchart with `helm package` \
                    (files and folders only) or commit it as a folder";

/// Whether helm (or a person) would take this file for a chart archive.
pub fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".tgz") || lower.ends_with(".tar.gz")
}

/// What is left to inflate and read among one chart folder's archives.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: ArchiveLimits,
    inflated_left: u64,
    entries_left: usize,
}

impl Budget {
    pub fn new(limits: ArchiveLimits) -> Budget {
        Budget { limits, inflated_left: limits.max_inflated, entries_left: limits.max_entries }
    }
}

/// Every problem of the archive `file` (its repository path), drawing on `budget`.
pub fn check_archive(file: &str, bytes: &[u8], budget: &mut Budget) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    inspect(file, &[], bytes, budget, &mut problems);
    problems.truncate(MAX_PROBLEMS);
    problems
}

/// A problem of the archive `file` at the entry `inside` (the chain of archive entries to it).
fn problem(file: &str, inside: &[String], message: String) -> Diagnostic {
    let diagnostic = Diagnostic::new(file, message).at(Some((1, 1))).hint(HINT);
    if inside.is_empty() {
        diagnostic
    } else {
        diagnostic.field(inside.join(" > "))
    }
}

/// Checks one archive (`inside`: the entries leading to it, empty for the file itself).
fn inspect(file: &str, inside: &[String], bytes: &[u8], budget: &mut Budget, out: &mut Vec<Diagnostic>) {
    let limits = budget.limits;
    let what = if inside.is_empty() { "the archive" } else { "this archive inside the archive" };
    if inside.len() >= limits.max_depth {
        out.push(problem(file, inside, format!("archives are nested more than {} deep", limits.max_depth)));
        return;
    }
    if bytes.len() > limits.max_compressed {
        out.push(problem(file, inside, format!("{what} is larger than {}", size_text(limits.max_compressed as u64))));
        return;
    }
    let inflated = match inflate(bytes, budget.inflated_left) {
        Ok(inflated) => inflated,
        Err(Inflate::NotGzip(why)) => {
            out.push(problem(file, inside, format!("{what} is not a gzip-compressed tar archive: {why}")));
            return;
        }
        Err(Inflate::TooLarge) => {
            out.push(problem(
                file,
                inside,
                format!(
                    "{what} inflates past {} (with the chart folder's other archives): refused as a decompression bomb",
                    size_text(limits.max_inflated)
                ),
            ));
            return;
        }
    };
    budget.inflated_left -= inflated.len() as u64;
    let entries = match tar::entries(&inflated, budget.entries_left) {
        Ok(entries) => entries,
        Err(tar::TarError::TooManyEntries(_)) => {
            out.push(problem(
                file,
                inside,
                format!("{what} has more than {} entries (with the chart folder's other archives)", limits.max_entries),
            ));
            return;
        }
        Err(why) => {
            out.push(problem(file, inside, format!("{what} is not a gzip-compressed tar archive: {why}")));
            return;
        }
    };
    budget.entries_left -= entries.len();
    for entry in &entries {
        if out.len() >= MAX_PROBLEMS {
            return;
        }
        if entry.kind == Kind::GlobalHeader {
            continue;
        }
        let name = match entry_name(&entry.name, entry.kind == Kind::Dir) {
            Ok(name) => name,
            Err(why) => {
                let mut at = inside.to_vec();
                at.push(shown(&String::from_utf8_lossy(&entry.name), 200));
                out.push(problem(file, &at, why));
                continue;
            }
        };
        let mut at = inside.to_vec();
        at.push(name.clone());
        let link = || shown(&String::from_utf8_lossy(&entry.link), 200);
        let refused = match entry.kind {
            Kind::File | Kind::Dir | Kind::GlobalHeader => None,
            Kind::Symlink => Some(format!("a symbolic link (to `{}`)", link())),
            Kind::Hardlink => Some(format!("a hard link (to `{}`)", link())),
            Kind::CharDevice => Some("a character device".to_owned()),
            Kind::BlockDevice => Some("a block device".to_owned()),
            Kind::Fifo => Some("a fifo".to_owned()),
            Kind::Other(flag) => Some(format!("an entry of tar type `{}`", shown(&char::from(flag).to_string(), 4))),
        };
        if let Some(refused) = refused {
            out.push(problem(file, &at, format!("{refused}: a chart archive may hold only files and folders")));
            continue;
        }
        if entry.kind == Kind::Dir {
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or_default();
        if base == SCHEMA_FILE {
            for found in check_schema(&name, entry.data) {
                out.push(nested(file, &at, found));
            }
        } else if DEPENDENCY_FILES.contains(&base) {
            check_dependencies(file, &at, &name, entry.data, out);
        } else if is_archive(&name) {
            inspect(file, &at, entry.data, budget, out);
        }
    }
}

/// A problem found in a file inside the archive, as a problem of the archive.
fn nested(file: &str, at: &[String], found: Diagnostic) -> Diagnostic {
    let mut at = at.to_vec();
    if let (Some(last), Some(line), Some(column)) = (at.last_mut(), found.line, found.column) {
        last.push_str(&format!(":{line}:{column}"));
    }
    let message = found.headline();
    let mut diagnostic = problem(file, &at, message);
    if let Some(hint) = found.hint {
        diagnostic = diagnostic.hint(hint);
    }
    diagnostic
}

/// A dependency file inside an archive: it parses, and its `file://` entries stay inside the archive.
fn check_dependencies(file: &str, at: &[String], name: &str, data: &[u8], out: &mut Vec<Diagnostic>) {
    let Ok(text) = std::str::from_utf8(data) else {
        out.push(problem(file, at, "the file is not UTF-8 text".into()));
        return;
    };
    let manifest = match parse_manifest(name, text) {
        Ok(manifest) => manifest,
        Err(found) => {
            out.extend(found.into_iter().map(|d| nested(file, at, d)));
            return;
        }
    };
    let folder = repo_path::parent(name);
    for (index, dependency) in manifest.dependencies.iter().enumerate() {
        let DependencySource::File(path) = &dependency.source else { continue };
        let resolved = repo_path::join(folder, path);
        if path.starts_with('/') || resolved == ".." || resolved.starts_with("../") || resolved.starts_with('/') {
            let found = Diagnostic::new(
                name,
                format!(
                    "`{FILE_SCHEME}{}` leaves the archive: a packaged chart's dependencies are in its own `charts/`",
                    shown(path, 200)
                ),
            )
            .at(super::locate::locate(
                text,
                &[
                    super::locate::Segment::Key("dependencies"),
                    super::locate::Segment::Index(index),
                    super::locate::Segment::Key("repository"),
                ],
            ))
            .field(format!("dependencies[{index}].repository"));
            out.push(nested(file, at, found));
        }
    }
}

/// An entry's name as text helm would take as is, or why it is refused.
fn entry_name(raw: &[u8], dir: bool) -> Result<String, String> {
    if raw.len() > MAX_NAME_BYTES {
        return Err(format!("a name longer than {MAX_NAME_BYTES} bytes"));
    }
    let Ok(name) = std::str::from_utf8(raw) else { return Err("a name that is not UTF-8 text".into()) };
    if name.is_empty() {
        return Err("an empty name".into());
    }
    if name.chars().any(|c| c.is_control() || crate::base::runner::is_invisible(c)) {
        return Err("a name with control or invisible characters".into());
    }
    if name.contains('\\') {
        return Err("a name with `\\` (helm reads it as a folder separator)".into());
    }
    if name.starts_with('/') {
        return Err("an absolute name: an entry must stay inside the chart".into());
    }
    let trimmed = if dir { name.strip_suffix('/').unwrap_or(name) } else { name };
    for part in trimmed.split('/') {
        match part {
            ".." => return Err("a name with a `..` part: an entry must stay inside the chart".into()),
            "" | "." => return Err("a name with an empty or `.` part".into()),
            _ if part.len() == 2 && part.ends_with(':') => {
                return Err("a name with a drive (`C:`) part".into());
            }
            _ => {}
        }
    }
    Ok(name.to_owned())
}

/// `16 MiB`, or `64 KiB` below a MiB.
fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

enum Inflate {
    NotGzip(String),
    TooLarge,
}

/// Every gzip member of `bytes` inflated (Go's reader reads them all), at most `cap` bytes produced.
fn inflate(bytes: &[u8], cap: u64) -> Result<Vec<u8>, Inflate> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(Inflate::NotGzip("it does not start as gzip does".into()));
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(cap.saturating_add(1));
    reader.read_to_end(&mut out).map_err(|e| Inflate::NotGzip(format!("the gzip stream is broken ({e})")))?;
    if out.len() as u64 > cap {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::tar::build::{archive, entry, file, header, pax_record};
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    const FILE: &str = "helm-charts/app/charts/evil-0.1.0.tgz";

    fn problems_with(bytes: &[u8], limits: ArchiveLimits) -> Vec<String> {
        check_archive(FILE, bytes, &mut Budget::new(limits))
            .iter()
            .map(|d| d.to_string().lines().next().unwrap().to_owned())
            .collect()
    }

    fn problems(bytes: &[u8]) -> Vec<String> {
        problems_with(bytes, ARCHIVE_LIMITS)
    }

    fn chart(extra: &[Vec<u8>]) -> Vec<u8> {
        let mut entries = vec![
            entry("evil/", b'5', b"", ""),
            file("evil/Chart.yaml", b"apiVersion: v2\nname: evil\nversion: 0.1.0\n"),
            file("evil/values.yaml", b"a: 1\n"),
            file("evil/values.schema.json", b"{\"$ref\": \"#/definitions/x\"}"),
        ];
        entries.extend_from_slice(extra);
        gzip(&archive(&entries))
    }

    #[test]
    fn a_packaged_chart_passes() {
        assert_eq!(problems(&chart(&[])), Vec::<String>::new());
        // A nested archive, dependency files naming repositories and `file://` inside the archive.
        let inner = chart(&[]);
        let deps = b"dependencies:\n  - name: sub\n    version: 1.0.0\n    repository: https://charts.example.org\n  - name: common\n    version: 1.0.0\n    repository: file://../common\n";
        let outer = chart(&[file("evil/charts/sub-1.0.0.tgz", &inner), file("evil/requirements.yaml", deps)]);
        assert_eq!(problems(&outer), Vec::<String>::new());
        assert!(is_archive("charts/x.TGZ") && is_archive("x.tar.gz") && !is_archive("x.tar") && !is_archive("tgz"));
    }

    #[test]
    fn links_devices_and_fifos_are_refused_at_their_entry() {
        let bytes = chart(&[
            entry("evil/templates/passwd", b'2', b"", "/etc/passwd"),
            entry("evil/templates/hard", b'1', b"", "evil/values.yaml"),
            entry("evil/dev", b'3', b"", ""),
            entry("evil/blk", b'4', b"", ""),
            entry("evil/fifo", b'6', b"", ""),
            entry("evil/odd", b'V', b"", ""),
        ]);
        assert_eq!(
            problems(&bytes),
            [
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/templates/passwd: a symbolic link (to `/etc/passwd`): a chart archive may hold only files and folders",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/templates/hard: a hard link (to `evil/values.yaml`): a chart archive may hold only files and folders",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/dev: a character device: a chart archive may hold only files and folders",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/blk: a block device: a chart archive may hold only files and folders",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/fifo: a fifo: a chart archive may hold only files and folders",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/odd: an entry of tar type `V`: a chart archive may hold only files and folders",
            ]
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        let cases: &[(&[u8], &str)] = &[
            (b"evil/../../etc/x", "evil/../../etc/x: a name with a `..` part"),
            (b"/etc/x", "/etc/x: an absolute name"),
            (b"evil/a\\..\\..\\x", "a name with `\\`"),
            (b"evil//values.schema.json", "a name with an empty or `.` part"),
            (b"evil/./values.schema.json", "a name with an empty or `.` part"),
            (b"evil/values.schema.json/", "a name with an empty or `.` part"),
            (b"evil/c:/x", "a name with a drive"),
            (b"evil/\xff", "a name that is not UTF-8 text"),
            (b"evil/a\nb", "evil/a\\u{a}b: a name with control or invisible characters"),
            (b"evil/a\x1b[31m", "a name with control"),
            (b"evil/\xe2\x80\xaeb", "a name with control or invisible characters"),
        ];
        for (name, expected) in cases {
            let got = problems(&gzip(&archive(&[entry("x", b'0', b"", ""), {
                let mut e = header(name, b"", b'0', 0, b"");
                e.truncate(512);
                e
            }])));
            assert_eq!(got.len(), 1, "{name:?}: {got:?}");
            assert!(got[0].contains(expected), "{name:?}: {got:?}");
        }
        // A pax path, a GNU long name: the names helm uses are the ones checked.
        let pax = pax_record("path", "evil/../../../outside");
        let got = problems(&chart(&[entry("h", b'x', pax.as_bytes(), ""), file("evil/innocent", b"x")]));
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("evil/../../../outside: a name with a `..` part"), "{got:?}");
        let got = problems(&chart(&[entry("././@LongLink", b'L', b"/abs/path\0", ""), file("evil/innocent", b"x")]));
        assert!(got[0].contains("/abs/path: an absolute name"), "{got:?}");
    }

    #[test]
    fn schemas_inside_are_checked_at_their_line() {
        let schema = b"{\n  \"properties\": {\n    \"a\": {\"$ref\": \"http://127.0.0.1:9/x.json\"}\n  }\n}";
        let inner = chart(&[file("evil/charts/sub/values.schema.json", schema)]);
        let got =
            problems(&chart(&[file("evil/charts/inner-1.0.0.tgz", &inner), file("evil/values.schema.json", schema)]));
        assert_eq!(
            got,
            [
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/charts/inner-1.0.0.tgz > evil/charts/sub/values.schema.json:3:19: properties.a.$ref: `$ref` is `http://127.0.0.1:9/x.json`, another document: a schema may refer only inside itself (`#...`)",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/values.schema.json:3:19: properties.a.$ref: `$ref` is `http://127.0.0.1:9/x.json`, another document: a schema may refer only inside itself (`#...`)",
            ]
        );
    }

    #[test]
    fn dependency_files_inside_may_not_leave_the_archive() {
        let deps = b"dependencies:\n  - name: a\n    repository: file:///etc\n  - name: b\n    repository: file://../../x\n  - name: c\n    repository: oci://example.org/c\n";
        let got = problems(&chart(&[
            file("evil/Chart.lock", deps),
            file("evil/charts/s/requirements.yaml", b"dependencies: 3\n"),
        ]));
        assert_eq!(
            got,
            [
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/Chart.lock:3:17: dependencies[0].repository: `file:///etc` leaves the archive: a packaged chart's dependencies are in its own `charts/`",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/Chart.lock:5:17: dependencies[1].repository: `file://../../x` leaves the archive: a packaged chart's dependencies are in its own `charts/`",
                "helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/charts/s/requirements.yaml:1:15: dependencies: invalid type: integer, expected a sequence",
            ]
        );
    }

    #[test]
    fn caps_and_broken_archives_are_refused() {
        let small = ArchiveLimits { max_compressed: 4096, max_inflated: 64 * 1024, max_entries: 8, max_depth: 2 };
        // A bomb: a few hundred bytes that inflate past the cap (counted as produced, not as claimed).
        let bomb = gzip(&archive(&[file("evil/zeros", &vec![0u8; 1024 * 1024])]));
        assert!(bomb.len() < 4096, "{}", bomb.len());
        assert!(problems_with(&bomb, small)[0].ends_with("the archive inflates past 64 KiB (with the chart folder's other archives): refused as a decompression bomb"));
        let many: Vec<Vec<u8>> = (0..9).map(|i| file(&format!("evil/f{i}"), b"x")).collect();
        assert!(problems_with(&gzip(&archive(&many)), small)[0]
            .ends_with("the archive has more than 8 entries (with the chart folder's other archives)"));
        let deep = chart(&[file("evil/charts/b.tgz", &chart(&[file("evil/charts/c.tgz", &chart(&[]))]))]);
        assert_eq!(
            problems_with(&deep, ArchiveLimits { max_entries: 100, ..small }),
            ["helm-charts/app/charts/evil-0.1.0.tgz:1:1: evil/charts/b.tgz > evil/charts/c.tgz: archives are nested more than 2 deep"]
        );
        let big: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert!(problems_with(&gzip(&archive(&[file("evil/rand", &big)])), small)[0]
            .ends_with("the archive is larger than 4 KiB"));
        // The budget is the folder's: two archives each under the cap, together over it.
        let half = gzip(&archive(&[file("evil/zeros", &vec![0u8; 40 * 1024])]));
        let mut budget = Budget::new(small);
        assert!(check_archive(FILE, &half, &mut budget).is_empty());
        assert_eq!(check_archive(FILE, &half, &mut budget).len(), 1);

        let not_gzip = problems(b"just text");
        assert!(
            not_gzip[0].ends_with("the archive is not a gzip-compressed tar archive: it does not start as gzip does")
        );
        let mut broken = chart(&[]);
        let len = broken.len();
        broken[len / 2] ^= 0xff;
        broken.truncate(len - 4);
        assert!(problems(&broken)[0]
            .contains("the archive is not a gzip-compressed tar archive: the gzip stream is broken"));
        let not_tar = problems(&gzip(&[7u8; 700]));
        assert!(not_tar[0].contains("not a gzip-compressed tar archive: the header at byte 0 has"), "{not_tar:?}");
        // Go reads every gzip member: a second member's entries are checked too.
        let mut two = gzip(&file("evil/ok", b"x"));
        two.extend(gzip(&archive(&[entry("evil/link", b'2', b"", "/etc/passwd")])));
        assert!(problems(&two)[0].contains("evil/link: a symbolic link"));
    }
}
