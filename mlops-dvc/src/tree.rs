//! Directory manifests as per-directory trees, like git: one tree object per directory, stored
//! in the content store, listing its entries (name, type, digest, size, executable bit). A change
//! to one file rewrites only the trees on the path from that file to the root.
//!
//! A directory with more than [`PART_MAX`] entries is split into parts at content-defined
//! boundaries (after an entry whose name's CRC-32 ends in seven 1-bits, about one entry in 128),
//! so a change in a directory of 100,000 files rewrites one part of ~128 entries and the small
//! list of parts, not a 10 MB manifest.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{DvcError, Result};
use crate::path::{BytesRepr, RelPath, check_name};
use crate::store::ContentStore;

/// Directories with more entries than this are split into parts.
pub(crate) const PART_MAX: usize = 1024;
/// A part is cut at this length even without a content-defined boundary.
const PART_HARD_MAX: usize = 4096;

/// The type of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file (its digest names the file's bytes).
    File,
    /// A directory (its digest names its tree object).
    Dir,
}

/// One entry of a tree object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    pub name: Vec<u8>,
    pub kind: EntryKind,
    pub digest: Digest,
    /// Bytes of the file, or of all files below the directory.
    pub size: u64,
    /// 1 for a file, the number of files below a directory.
    pub files: u64,
    pub exec: bool,
}

#[derive(Serialize, Deserialize)]
struct EntryJson {
    name: BytesRepr,
    #[serde(rename = "type")]
    kind: EntryKind,
    digest: Digest,
    size: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    files: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    exec: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct PartJson {
    digest: Digest,
    entries: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeJson {
    mlops_tree: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entries: Vec<EntryJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<PartJson>,
}

fn encode_entries(entries: &[TreeEntry]) -> Vec<u8> {
    let json = TreeJson {
        mlops_tree: 1,
        entries: entries
            .iter()
            .map(|e| EntryJson {
                name: BytesRepr::from_bytes(&e.name),
                kind: e.kind,
                digest: e.digest,
                size: e.size,
                files: if e.kind == EntryKind::Dir { e.files } else { 0 },
                exec: e.exec,
            })
            .collect(),
        parts: Vec::new(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&json).unwrap_or_default()
}

/// Store the tree of one directory (entries in any order); returns its digest, total size and
/// file count.
pub(crate) fn write_tree(
    store: &dyn ContentStore,
    mut entries: Vec<TreeEntry>,
) -> Result<(Digest, u64, u64)> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let size = entries.iter().map(|e| e.size).sum();
    let files = entries.iter().map(|e| e.files).sum();
    if entries.len() <= PART_MAX {
        let d = store.put_bytes(&encode_entries(&entries))?.digest;
        return Ok((d, size, files));
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 0..entries.len() {
        let boundary = crc32fast::hash(&entries[i].name) & 0x7f == 0x7f;
        if boundary || i + 1 - start >= PART_HARD_MAX || i + 1 == entries.len() {
            let chunk = &entries[start..=i];
            let d = store.put_bytes(&encode_entries(chunk))?.digest;
            parts.push(PartJson {
                digest: d,
                entries: chunk.len() as u64,
            });
            start = i + 1;
        }
    }
    let root = TreeJson {
        mlops_tree: 1,
        entries: Vec::new(),
        parts,
    };
    let d = store
        .put_bytes(&serde_json::to_vec(&root).unwrap_or_default())?
        .digest;
    Ok((d, size, files))
}

fn corrupt(digest: &Digest, detail: impl Into<String>) -> DvcError {
    DvcError::Corrupt {
        path: format!("object {digest}").into(),
        detail: detail.into(),
    }
}

fn read_json(store: &dyn ContentStore, digest: &Digest) -> Result<TreeJson> {
    let mut reader = store.open(digest)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut bytes)
        .map_err(|e| DvcError::from_io(format!("object {digest}"), e))?;
    let json: TreeJson = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(digest, format!("not a tree object: {e}")))?;
    if json.mlops_tree != 1 {
        return Err(corrupt(
            digest,
            format!("unknown tree format {}", json.mlops_tree),
        ));
    }
    Ok(json)
}

/// Read one directory's entries (joining its parts), validated: names are single safe
/// components, sorted and unique. `parts_seen` collects the digests of part objects.
pub(crate) fn read_tree(
    store: &dyn ContentStore,
    digest: &Digest,
    mut parts_seen: Option<&mut Vec<Digest>>,
) -> Result<Vec<TreeEntry>> {
    let json = read_json(store, digest)?;
    let mut raw = json.entries;
    if !json.parts.is_empty() {
        if !raw.is_empty() {
            return Err(corrupt(digest, "tree has both entries and parts"));
        }
        for part in json.parts {
            let pj = read_json(store, &part.digest)?;
            if !pj.parts.is_empty() {
                return Err(corrupt(digest, "tree part has parts of its own"));
            }
            if pj.entries.len() as u64 != part.entries {
                return Err(corrupt(&part.digest, "tree part has a wrong entry count"));
            }
            if let Some(seen) = parts_seen.as_deref_mut() {
                seen.push(part.digest);
            }
            raw.extend(pj.entries);
        }
    }
    let mut out: Vec<TreeEntry> = Vec::with_capacity(raw.len());
    for e in raw {
        let name = e.name.into_bytes().map_err(|why| corrupt(digest, why))?;
        if let Err(why) = check_name(&name) {
            return Err(corrupt(
                digest,
                format!(
                    "entry {:?} {why}: refusing a path that could leave the dataset",
                    String::from_utf8_lossy(&name)
                ),
            ));
        }
        if out.last().is_some_and(|prev| prev.name >= name) {
            return Err(corrupt(digest, "tree entries are not sorted and unique"));
        }
        out.push(TreeEntry {
            name,
            kind: e.kind,
            digest: e.digest,
            size: e.size,
            files: if e.kind == EntryKind::Dir { e.files } else { 1 },
            exec: e.exec,
        });
    }
    Ok(out)
}

/// One file of a flattened manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestEntry {
    /// Path relative to the dataset's folder.
    pub path: RelPath,
    /// SHA-256 of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// The executable bit.
    pub exec: bool,
}

/// A whole directory version, flattened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flat {
    pub files: Vec<ManifestEntry>,
    /// Every directory (the root included, as the empty path).
    pub dirs: Vec<RelPath>,
    /// Every tree and tree-part object.
    pub trees: Vec<Digest>,
}

/// Walk a directory version from its root tree, in path order.
pub(crate) fn flatten(store: &dyn ContentStore, root: &Digest) -> Result<Flat> {
    let mut flat = Flat::default();
    walk(store, root, &RelPath::root(), &mut flat, 0)?;
    Ok(flat)
}

fn walk(
    store: &dyn ContentStore,
    digest: &Digest,
    prefix: &RelPath,
    flat: &mut Flat,
    depth: usize,
) -> Result<()> {
    // Content addressing rules out cycles; a crafted store could still nest absurdly deep.
    if depth > 1024 {
        return Err(corrupt(digest, "tree nesting is deeper than 1024 levels"));
    }
    flat.trees.push(*digest);
    flat.dirs.push(prefix.clone());
    let mut parts = Vec::new();
    let entries = read_tree(store, digest, Some(&mut parts))?;
    flat.trees.extend(parts);
    for e in entries {
        let path = prefix.join_name(&e.name);
        match e.kind {
            EntryKind::File => flat.files.push(ManifestEntry {
                path,
                digest: e.digest,
                size: e.size,
                exec: e.exec,
            }),
            EntryKind::Dir => walk(store, &e.digest, &path, flat, depth + 1)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::InMemoryContentStore;

    fn entries(n: usize, changed: Option<usize>) -> Vec<TreeEntry> {
        (0..n)
            .map(|i| {
                let content = if Some(i) == changed {
                    "changed".to_owned()
                } else {
                    i.to_string()
                };
                TreeEntry {
                    name: format!("f{i:06}").into_bytes(),
                    kind: EntryKind::File,
                    digest: Digest::of_bytes(content.as_bytes()),
                    size: content.len() as u64,
                    files: 1,
                    exec: i % 7 == 0,
                }
            })
            .collect()
    }

    #[test]
    fn small_directory_is_one_object_that_round_trips() {
        let store = InMemoryContentStore::new();
        let e = entries(10, None);
        let (d, size, files) = write_tree(&store, e.clone()).unwrap();
        assert_eq!(files, 10);
        assert_eq!(size, e.iter().map(|x| x.size).sum::<u64>());
        assert_eq!(store.list().unwrap(), vec![d]);
        assert_eq!(read_tree(&store, &d, None).unwrap(), e);
    }

    #[test]
    fn large_directory_change_rewrites_one_part_and_the_part_list() {
        let store = InMemoryContentStore::new();
        let n = 5_000;
        let (d1, _, files) = write_tree(&store, entries(n, None)).unwrap();
        assert_eq!(files, n as u64);
        let before = store.list().unwrap();
        let total: u64 = before.iter().map(|d| store.size(d).unwrap()).sum();
        assert!(before.len() > 10, "split into {} parts", before.len() - 1);
        let (d2, _, _) = write_tree(&store, entries(n, Some(2_345))).unwrap();
        let after = store.list().unwrap();
        let new: Vec<Digest> = after
            .iter()
            .filter(|d| before.binary_search(d).is_err())
            .copied()
            .collect();
        assert_eq!(new.len(), 2, "one part and the part list");
        assert!(new.contains(&d2));
        let new_bytes: u64 = new.iter().map(|d| store.size(d).unwrap()).sum();
        assert!(new_bytes * 8 < total, "{new_bytes} of {total}");
        // Both versions read back whole and in order.
        assert_eq!(read_tree(&store, &d1, None).unwrap(), entries(n, None));
        let mut parts = Vec::new();
        let e2 = read_tree(&store, &d2, Some(&mut parts)).unwrap();
        assert_eq!(e2, entries(n, Some(2_345)));
        assert_eq!(parts.len() + 1, before.len());
        let flat = flatten(&store, &d2).unwrap();
        assert_eq!(flat.files.len(), n);
        assert_eq!(flat.trees.len(), parts.len() + 1);
    }

    #[test]
    fn damaged_trees_are_corrupt() {
        let store = InMemoryContentStore::new();
        for bad in [
            &b"not json"[..],
            br#"{"mlops_tree":2,"entries":[]}"#,
            br#"{"mlops_tree":1,"entries":[{"name":"b","type":"file","digest":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},{"name":"a","type":"file","digest":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}"#,
        ] {
            let d = store.put_bytes(bad).unwrap().digest;
            let err = read_tree(&store, &d, None).unwrap_err();
            assert!(err.is_corrupt(), "{err}");
        }
    }
}
