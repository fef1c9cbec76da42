//! Proptest model test of the content stores against a `BTreeMap`; the file store is also closed
//! and reopened along the way.

use std::collections::BTreeMap;
use std::io::Read;

use mlops_dvc::{ContentStore, Digest, FileContentStore, InMemoryContentStore};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>),
    PutStream(Vec<u8>),
    Delete(usize),
    Read(usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(0u8..4, 0..40).prop_map(Op::Put),
        2 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Op::PutStream),
        2 => (0usize..16).prop_map(Op::Delete),
        2 => (0usize..16).prop_map(Op::Read),
        1 => Just(Op::Reopen),
    ]
}

fn check(store: &dyn ContentStore, model: &BTreeMap<Digest, Vec<u8>>) {
    assert_eq!(
        store.list().unwrap(),
        model.keys().copied().collect::<Vec<_>>()
    );
}

fn run(ops: &[Op], mut store: Box<dyn ContentStore>, reopen: &dyn Fn() -> Box<dyn ContentStore>) {
    let mut model: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(b) | Op::PutStream(b) => {
                let put = if matches!(op, Op::Put(_)) {
                    store.put_bytes(b).unwrap()
                } else {
                    store.put_reader(&mut &b[..]).unwrap()
                };
                let d = Digest::of_bytes(b);
                assert_eq!(put.digest, d);
                assert_eq!(put.size, b.len() as u64);
                assert_eq!(put.inserted, !model.contains_key(&d));
                model.insert(d, b.clone());
            }
            Op::Delete(i) => {
                let key = model.keys().nth(*i % (model.len() + 1)).copied();
                let d = key.unwrap_or_else(|| Digest::of_bytes(b"absent"));
                assert_eq!(store.delete(&d).unwrap(), model.remove(&d).is_some());
            }
            Op::Read(i) => {
                if let Some((d, bytes)) = model.iter().nth(*i % (model.len() + 1)) {
                    let mut out = Vec::new();
                    store.open(d).unwrap().read_to_end(&mut out).unwrap();
                    assert_eq!(&out, bytes);
                    assert_eq!(store.size(d).unwrap(), bytes.len() as u64);
                    assert!(store.contains(d).unwrap());
                }
            }
            Op::Reopen => store = reopen(),
        }
        check(&*store, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn memory_store_matches_model(ops in proptest::collection::vec(op(), 1..30)) {
        let store = InMemoryContentStore::new();
        let again = store.clone();
        run(&ops, Box::new(store), &move || Box::new(again.clone()));
    }

    #[test]
    fn file_store_matches_model_across_reopen(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let store = FileContentStore::open(&path).unwrap().with_fsync(false);
        run(&ops, Box::new(store), &move || {
            Box::new(FileContentStore::open(&path).unwrap().with_fsync(false))
        });
    }
}
