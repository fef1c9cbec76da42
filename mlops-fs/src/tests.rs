//! The crash cases of the shared primitives: every truncation, stray temps, capped reads.

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn write_atomic_creates_and_replaces_without_leaving_temps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.json");
    write_atomic(&path, b"one", true).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"one");
    write_atomic(&path, b"two, longer", false).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two, longer");
    assert_eq!(names(dir.path()), vec!["meta.json".to_owned()]);
}

#[test]
fn write_atomic_into_missing_dir_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("meta.json");
    let err = write_atomic(&path, b"x", true).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn create_new_atomic_refuses_existing_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.json");
    create_new_atomic(&path, b"first", true).unwrap();
    let err = create_new_atomic(&path, b"second", true).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(&path).unwrap(), b"first");
    assert_eq!(names(dir.path()), vec!["v1.json".to_owned()]);
}

#[test]
fn stray_temp_of_dead_writer_is_recognised_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.json");
    write_atomic(&path, b"good", true).unwrap();
    // A crashed writer (a pid that cannot be running) left a half-written temp behind.
    let stray = dir.path().join(format!(".meta.json.{}.7.tmp", u32::MAX));
    fs::write(&stray, b"half-writ").unwrap();
    assert!(is_temp_name(".meta.json.4294967295.7.tmp"));
    assert!(!is_temp_name("meta.json"));
    // Readers are unaffected: the target still has the last complete content.
    assert_eq!(fs::read(&path).unwrap(), b"good");
    if cfg!(target_os = "linux") {
        let removed = remove_stray_temps(dir.path()).unwrap();
        assert_eq!(removed, vec![stray.clone()]);
        assert!(!stray.exists());
    }
    assert_eq!(fs::read(&path).unwrap(), b"good");
}

#[test]
fn directories_with_temp_like_names_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join(format!(".data.{}.1.tmp", u32::MAX));
    fs::create_dir(&odd).unwrap();
    assert!(remove_stray_temps(dir.path()).unwrap().is_empty());
    assert!(odd.is_dir());
}

#[test]
fn temp_of_live_writer_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir
        .path()
        .join(format!(".meta.json.{}.3.tmp", std::process::id()));
    fs::write(&ours, b"in flight").unwrap();
    assert!(remove_stray_temps(dir.path()).unwrap().is_empty());
    assert!(ours.exists());
    assert!(
        remove_stray_temps(&dir.path().join("absent"))
            .unwrap()
            .is_empty()
    );
}

fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        encode_record(p, &mut out).unwrap();
    }
    out
}

#[test]
fn records_round_trip() {
    let data = log_of(&[b"{\"a\":1}", b"", b"with\nnewline"]);
    let scan = scan_records(&data).unwrap();
    assert_eq!(scan.records, vec![&b"{\"a\":1}"[..], b"", b"with\nnewline"]);
    assert_eq!(scan.valid_len, data.len());
    assert_eq!(scan.torn_at, None);
}

#[test]
fn a_record_written_in_place_is_the_same_record_and_a_failed_one_leaves_nothing() {
    let mut by_copy = b"before".to_vec();
    encode_record(b"{\"a\":[1,2,3]}", &mut by_copy).unwrap();
    let mut in_place = b"before".to_vec();
    encode_record_with(&mut in_place, |out| {
        out.extend_from_slice(b"{\"a\":[1,2,3]}");
        Ok::<(), ()>(())
    })
    .unwrap();
    assert_eq!(in_place, by_copy);
    let err = encode_record_with(&mut in_place, |out| {
        out.extend_from_slice(b"half a payl");
        Err("the serializer failed")
    })
    .unwrap_err();
    assert!(matches!(err, FrameError::Payload("the serializer failed")));
    assert_eq!(in_place, by_copy, "a failed record leaves nothing behind");
    let scan = scan_records(&by_copy[b"before".len()..]).unwrap();
    assert_eq!(scan.records, vec![&b"{\"a\":[1,2,3]}"[..]]);
}

#[test]
fn every_truncation_is_a_torn_tail_never_an_error() {
    let data = log_of(&[b"first record", b"second record"]);
    let first_len = log_of(&[b"first record"]).len();
    for cut in 0..data.len() {
        let scan = scan_records(&data[..cut]).unwrap();
        let expected = usize::from(cut >= first_len);
        assert_eq!(scan.records.len(), expected, "cut at {cut}");
        assert_eq!(
            scan.torn_at.is_some(),
            cut != 0 && cut != first_len,
            "cut at {cut}"
        );
    }
}

#[test]
fn damage_before_the_end_is_corruption() {
    let mut data = log_of(&[b"first record", b"second record"]);
    data[20] ^= 0x01; // flip a payload bit of the first record
    let err = scan_records(&data).unwrap_err();
    assert_eq!(err.offset, 0);
    assert!(err.detail.contains("checksum"), "{}", err.detail);
}

/// Every single-bit change anywhere in a log is seen: the scan fails or reports a torn tail,
/// never the original records as if nothing happened (the frame's hex digits are lowercase
/// only, so a flipped case bit in a length or checksum is damage too).
#[test]
fn every_bit_flip_is_detected() {
    let payloads: [&[u8]; 2] = [b"first record", b"second record"];
    let data = log_of(&payloads);
    assert!(
        data[..HEADER_LEN].iter().any(|b| (b'a'..=b'f').contains(b)),
        "the first frame header holds a hex letter"
    );
    for at in 0..data.len() {
        for bit in 0..8 {
            let mut d = data.clone();
            d[at] ^= 1 << bit;
            if let Ok(scan) = scan_records(&d) {
                assert!(
                    scan.torn_at.is_some() || scan.records != payloads,
                    "bit {bit} of byte {at} flipped unseen"
                );
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log");
            fs::write(&path, &d).unwrap();
            if let Ok((records, _, torn)) = read_all(&path, 0) {
                assert!(
                    torn || records != payloads,
                    "reader: bit {bit} of byte {at} flipped unseen"
                );
            }
        }
    }
}

#[test]
fn damaged_last_record_is_torn() {
    let mut data = log_of(&[b"first record", b"second record"]);
    let last = data.len() - 3;
    data[last] ^= 0x01;
    let scan = scan_records(&data).unwrap();
    assert_eq!(scan.records, vec![&b"first record"[..]]);
    assert!(scan.torn_at.is_some());
}

#[test]
fn truncate_drops_the_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut data = log_of(&[b"kept"]);
    let keep = data.len();
    data.extend_from_slice(b"0000000a 0000");
    fs::write(&path, &data).unwrap();
    let scan = scan_records(&data).unwrap();
    assert_eq!(scan.torn_at, Some(keep));
    truncate_to(&path, scan.valid_len as u64, true).unwrap();
    assert_eq!(fs::read(&path).unwrap(), log_of(&[b"kept"]));
}

fn read_all(path: &Path, from: u64) -> Result<(Vec<Vec<u8>>, u64, bool), ReadError> {
    let mut reader = RecordReader::open(path, from)?.expect("log exists");
    let mut out = Vec::new();
    while let Some(p) = reader.next_record()? {
        out.push(p.to_vec());
    }
    Ok((out, reader.valid_len(), reader.torn()))
}

#[test]
fn capped_reader_reads_records_and_stops_at_the_cap() {
    let data = log_of(&[b"first record", b"with\nnewline", b"third"]);
    let first_len = log_of(&[b"first record"]).len() as u64;
    let two_len = log_of(&[b"first record", b"with\nnewline"]).len() as u64;
    for cut in 0..=data.len() {
        let mut reader = RecordReader::new(&data[..], 0, cut as u64);
        let mut n = 0;
        while reader.next_record().unwrap().is_some() {
            n += 1;
        }
        let cut = cut as u64;
        let boundaries = [0, first_len, two_len, data.len() as u64];
        let expected = boundaries[1..].iter().filter(|&&b| b <= cut).count();
        assert_eq!(n, expected, "cut at {cut}");
        assert_eq!(reader.torn(), !boundaries.contains(&cut), "cut at {cut}");
        assert_eq!(reader.valid_len(), boundaries[expected], "cut at {cut}");
    }
    // Bytes past the cap are never read, even when they would complete the record.
    let mut reader = RecordReader::new(&data[..], 0, first_len + 5);
    assert_eq!(reader.next_record().unwrap(), Some(&b"first record"[..]));
    assert_eq!(reader.next_record().unwrap(), None);
    assert!(reader.torn());
}

#[test]
fn capped_reader_resumes_from_an_offset_and_reports_damage_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut data = log_of(&[b"one", b"two", b"three"]);
    let one = log_of(&[b"one"]).len();
    fs::write(&path, &data).unwrap();
    let (records, end, torn) = read_all(&path, one as u64).unwrap();
    assert_eq!(records, [b"two".to_vec(), b"three".to_vec()]);
    assert_eq!(end, data.len() as u64);
    assert!(!torn);
    data[one + 20] ^= 0x01; // damage "two", which "three" follows
    fs::write(&path, &data).unwrap();
    match read_all(&path, one as u64) {
        Err(ReadError::Corrupt(c)) => {
            assert_eq!(c.offset, one);
            assert!(c.detail.contains("checksum"), "{}", c.detail);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(
        RecordReader::open(&dir.path().join("absent"), 0)
            .unwrap()
            .is_none()
    );
}

/// A source that models a file another process is appending to: it serves what was
/// visible when the length was measured, reports the end once, and has grown on the next
/// read (the writer finished its append meanwhile).
struct Growing<'a> {
    data: &'a [u8],
    visible: usize,
    pos: usize,
    served_past_cap: bool,
}

impl Read for Growing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.visible {
            // The end as measured; the writer completes its record right after.
            self.visible = self.data.len();
            if self.pos >= self.data.len() {
                return Ok(0);
            }
            self.served_past_cap = true;
        }
        let n = buf.len().min(self.visible - self.pos).min(7);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The false `Corrupt` of a reader that reads past the length it measured: it finds a
/// partial record, looks again, and finds the rest plus the next record. Capped at the
/// measured length, the partial record is a torn tail (not yet written) and nothing past
/// the cap is read.
#[test]
fn capped_reader_never_reads_past_the_measured_length() {
    let data = log_of(&[b"first", b"second, being written", b"third"]);
    let first = log_of(&[b"first"]).len();
    for visible in first..data.len() {
        let mut source = Growing {
            data: &data,
            visible,
            pos: 0,
            served_past_cap: false,
        };
        let mut reader = RecordReader::new(&mut source, 0, visible as u64);
        let mut n = 0;
        while reader.next_record().expect("never corrupt").is_some() {
            n += 1;
        }
        assert!(n >= 1, "visible {visible}");
        let complete = [first, log_of(&[b"first", b"second, being written"]).len()];
        assert_eq!(
            reader.torn(),
            !complete.contains(&visible),
            "visible {visible}"
        );
        drop(reader);
        assert!(!source.served_past_cap, "read past the cap at {visible}");
    }
}

/// A reader beside a writer whose appends land in two pieces (as at a page boundary):
/// every read sees a prefix of the records, never an error.
#[test]
fn capped_reader_beside_an_appending_writer_never_sees_corruption() {
    use std::sync::atomic::AtomicBool;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    fs::write(&path, b"").unwrap();
    let done = AtomicBool::new(false);
    let payload = |i: u32| {
        format!(
            "{{\"record\":{i},\"pad\":\"{}\"}}",
            "x".repeat((i % 97) as usize)
        )
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            for i in 0..3000u32 {
                let mut rec = Vec::new();
                encode_record(payload(i).as_bytes(), &mut rec).unwrap();
                let half = rec.len() / 2;
                file.write_all(&rec[..half]).unwrap();
                file.flush().unwrap();
                std::thread::yield_now();
                file.write_all(&rec[half..]).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut reads = 0;
        let mut torn_seen = 0;
        while !done.load(Ordering::SeqCst) || reads == 0 {
            let (records, _, torn) = read_all(&path, 0).expect("no error beside a writer");
            for (i, r) in records.iter().enumerate() {
                let i = u32::try_from(i).unwrap();
                assert_eq!(r, payload(i).as_bytes(), "record {i}");
            }
            torn_seen += usize::from(torn);
            reads += 1;
        }
        assert!(reads > 0 && torn_seen <= reads);
    });
    let (records, _, torn) = read_all(&path, 0).unwrap();
    assert_eq!(records.len(), 3000);
    assert!(!torn);
}
