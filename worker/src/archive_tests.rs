//! Archives built here, good and hostile, unpacked into a folder of their
//! own: what is refused and why, and that nothing lands outside it.

use std::io::{self, Read, Write};

use rand::{RngCore, SeedableRng, rngs::StdRng};
use tar::{EntryType, Header};

use super::*;

/// Bytes that start like an MP3 with an ID3 tag, then noise (which does
/// not compress, as real audio barely does).
fn mp3(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v[..10].copy_from_slice(b"ID3\x04\x00\x00\x00\x00\x00\x00");
    v
}

/// An MP3 frame header with no tag, MPEG-2 layer 3 (`FF F3`): `infer`
/// alone does not know it.
fn bare_mp3(len: usize) -> Vec<u8> {
    let mut v = mp3(len, 9);
    v[..4].copy_from_slice(&[0xFF, 0xF3, 0x64, 0xC4]);
    v
}

struct Builder {
    tar: tar::Builder<Vec<u8>>,
}

impl Builder {
    fn new() -> Self {
        Self {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    fn file(&mut self, path: &str, data: impl Read, len: u64) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_size(len);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        // Written into the header's bytes: `set_path` refuses `..` and
        // absolute paths, which are what these tests need.
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        self.tar.append(&h, data).unwrap();
        self
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file(path, data, data.len() as u64)
    }

    fn special(&mut self, path: &str, kind: EntryType, target: Option<&str>) -> &mut Self {
        let mut h = Header::new_gnu();
        h.set_size(0);
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        if let Some(t) = target {
            h.set_link_name(t).unwrap();
        }
        h.set_cksum();
        self.tar.append(&h, io::empty()).unwrap();
        self
    }

    fn tar(self) -> Vec<u8> {
        self.tar.into_inner().unwrap()
    }

    fn gz(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.tar()).unwrap();
        gz.finish().unwrap()
    }
}

/// Unpacks `archive` into `<tmp>/out`; also returns the temporary folder.
fn run(archive: &[u8], limits: Limits) -> (tempfile::TempDir, Result<Unpacked, Error>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.tar.gz");
    std::fs::write(&path, archive).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let res = unpack(&path, &out, limits, &CancellationToken::new());
    (dir, res)
}

fn reasons(u: &Unpacked) -> Vec<(&str, Reason)> {
    u.refused
        .iter()
        .map(|r| (r.path.as_str(), r.reason))
        .collect()
}

#[test]
fn good_entries_are_unpacked_under_numbered_names_and_hostile_ones_refused() {
    let mut b = Builder::new();
    b.bytes("./talks/audio1.mp3", &mp3(50_000, 1))
        .bytes("talks//audio2.MP3", &bare_mp3(40_000))
        .bytes("meta/rows.parquet", b"PAR1 not really a parquet file PAR1")
        .bytes(
            "meta/manifest.JSONL",
            b"{\"source\": \"talks/audio1.mp3\"}\n",
        )
        .bytes("meta/rows.csv", "id,note\n1,caf\u{e9}\n".as_bytes())
        .bytes("../escape.mp3", &mp3(1000, 2))
        .bytes("/etc/cron.d/evil.mp3", &mp3(1000, 3))
        .bytes("..\\windows.mp3", &mp3(1000, 4))
        .special("talks/link.mp3", EntryType::Symlink, Some("/etc/passwd"))
        .special("talks/hard.mp3", EntryType::Link, Some("talks/audio1.mp3"))
        .special("talks/fifo.mp3", EntryType::Fifo, None)
        .special("talks/dev.mp3", EntryType::Char, None)
        .special("talks", EntryType::Directory, None)
        .bytes("talks/audio1.mp3", &mp3(1000, 5))
        .bytes("notes.mp3", b"just some text pretending to be audio")
        .bytes("empty.mp3", b"")
        .bytes("meta/binary.csv", b"\x00\x01\x02 not text");
    let (dir, res) = run(&b.gz(), Limits::default());
    let u = res.unwrap();
    let paths: Vec<(&str, &str, Kind)> = u
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.stem.as_str(), e.kind))
        .collect();
    assert_eq!(
        paths,
        [
            ("talks/audio1.mp3", "audio1", Kind::Media),
            ("talks/audio2.MP3", "audio2", Kind::Media),
            ("meta/rows.parquet", "rows", Kind::Parquet),
            ("meta/manifest.JSONL", "manifest", Kind::Jsonl),
            ("meta/rows.csv", "rows", Kind::Csv),
        ]
    );
    assert_eq!(
        reasons(&u),
        [
            ("../escape.mp3", Reason::PathEscapes),
            ("/etc/cron.d/evil.mp3", Reason::AbsolutePath),
            ("..\\windows.mp3", Reason::PathEscapes),
            ("talks/link.mp3", Reason::Link),
            ("talks/hard.mp3", Reason::Link),
            ("talks/fifo.mp3", Reason::NotAFile),
            ("talks/dev.mp3", Reason::NotAFile),
            ("talks/audio1.mp3", Reason::Duplicate),
            ("notes.mp3", Reason::NotAudio),
            ("empty.mp3", Reason::Empty),
            ("meta/binary.csv", Reason::NotAudio),
        ]
    );
    // Copied whole, under names of our own, and nothing anywhere else.
    assert_eq!(std::fs::read(&u.entries[0].file).unwrap(), mp3(50_000, 1));
    assert_eq!(u.entries[1].size, 40_000);
    let mut written: Vec<String> = walk(dir.path());
    written.sort();
    assert_eq!(
        written,
        [
            "batch.tar.gz",
            "out",
            "out/000000.mp3",
            "out/000001.mp3",
            "out/000002.parquet",
            "out/000003.jsonl",
            "out/000004.csv"
        ]
    );
}

/// Every path under `dir`, relative, `/`-separated.
fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            found.push(
                p.strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    found
}

#[test]
fn a_plain_tar_is_read_too_and_other_files_are_not_archives() {
    let mut b = Builder::new();
    b.bytes("a.mp3", &mp3(5000, 1));
    let (_dir, res) = run(&b.tar(), Limits::default());
    assert_eq!(res.unwrap().entries.len(), 1);
    let (_dir, res) = run(&mp3(5000, 2), Limits::default());
    assert!(matches!(res, Err(Error::NotAnArchive)), "{res:?}");
}

#[test]
fn an_entry_that_inflates_a_thousandfold_is_a_bomb_and_leaves_nothing() {
    let mut b = Builder::new();
    b.bytes("before.mp3", &mp3(20_000, 1));
    // An MP3's first bytes, then 64 MiB of zeros: about 64 KiB gzipped.
    let len = 64u64 << 20;
    b.file(
        "bomb.mp3",
        io::Cursor::new(mp3(64, 2)).chain(io::repeat(0).take(len - 64)),
        len,
    );
    b.bytes("after.mp3", &mp3(20_000, 3));
    let archive = b.gz();
    assert!(archive.len() < 1 << 20, "{}", archive.len());
    let (dir, res) = run(&archive, Limits::default());
    let u = res.unwrap();
    assert_eq!(reasons(&u), [("bomb.mp3", Reason::Bomb)]);
    assert!(u.refused[0].detail.contains("times its compressed size"));
    let kept: Vec<&str> = u.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(kept, ["before.mp3", "after.mp3"]);
    let mut written = walk(&dir.path().join("out"));
    written.sort();
    assert_eq!(written, ["000000.mp3", "000002.mp3"], "no partial bomb");
}

#[test]
fn many_small_compressible_entries_hit_the_whole_archive_cap() {
    // Each under the per-entry floor, together 100 MB of zeros from a
    // few hundred KB: the archive as a whole is the bomb.
    let mut b = Builder::new();
    for i in 0..100 {
        let len = 1_000_000u64;
        b.file(&format!("z{i}.mp3"), io::repeat(0).take(len), len);
    }
    let limits = Limits {
        inflation_floor: 64 << 20,
        ..Limits::default()
    };
    let (_dir, res) = run(&b.gz(), limits);
    assert!(matches!(res, Err(Error::Bomb { .. })), "{res:?}");
}

#[test]
fn sizes_and_counts_are_limited() {
    let limits = Limits {
        max_entries: 3,
        max_file_bytes: 30_000,
        max_total_bytes: 45_000,
        ..Limits::default()
    };
    let mut b = Builder::new();
    b.bytes("big.mp3", &mp3(40_000, 1))
        .bytes("a.mp3", &mp3(25_000, 2))
        .bytes("b.mp3", &mp3(25_000, 3));
    let (_dir, res) = run(&b.gz(), limits);
    let u = res.unwrap();
    assert_eq!(
        reasons(&u),
        [
            ("big.mp3", Reason::TooLarge),
            ("b.mp3", Reason::TotalTooLarge)
        ]
    );
    assert_eq!(u.entries.len(), 1);
    let mut b = Builder::new();
    for i in 0..4 {
        b.bytes(&format!("{i}.mp3"), &mp3(100, i));
    }
    let (_dir, res) = run(&b.gz(), limits);
    assert!(matches!(res, Err(Error::TooManyEntries(3))), "{res:?}");
}

#[test]
fn names_are_normalised_or_refused() {
    assert_eq!(normalise(b"./a//b/./c.mp3").unwrap(), "a/b/c.mp3");
    assert_eq!(normalise(b"a/../b").unwrap_err().0, Reason::PathEscapes);
    assert_eq!(normalise(b"C:/x.mp3").unwrap_err().0, Reason::AbsolutePath);
    assert_eq!(
        normalise(b"\\\\server\\x").unwrap_err().0,
        Reason::AbsolutePath
    );
    assert_eq!(normalise(b"./").unwrap_err().0, Reason::BadName);
    assert_eq!(normalise(b"a\x00b").unwrap_err().0, Reason::BadName);
    assert_eq!(normalise(&[0xC3, 0x28]).unwrap_err().0, Reason::BadName);
    assert_eq!(stem("x/audio123.mp3"), "audio123");
    assert_eq!(stem("x/a.b.mp3"), "a.b");
    assert_eq!(stem(".hidden"), ".hidden");
    assert_eq!(stem("noext"), "noext");
}

#[test]
fn a_stop_ends_the_unpacking() {
    let mut b = Builder::new();
    b.bytes("a.mp3", &mp3(100, 1));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, b.tar()).unwrap();
    let stop = CancellationToken::new();
    stop.cancel();
    let res = unpack(&path, dir.path(), Limits::default(), &stop);
    assert!(matches!(res, Err(Error::Stopped)), "{res:?}");
}
