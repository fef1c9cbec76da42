//! The cases of the [`OfflineStore`] conformance suite (see the [module docs](super)).

use std::ops::ControlFlow;
use std::time::Duration;

use super::{Capabilities, Subject, all_types_values, small_group, t, x_row};
use crate::group::{FeatureGroup, FeatureRow};
use crate::model::Value;
use crate::offline::{OfflineStore, OfflineStoreExt, ScanOptions};
use crate::pit::{EntityFrame, HistoricalOptions, join_group};

/// A case of the offline suite.
pub type Case = fn(&Subject<dyn OfflineStore>, &Capabilities);

/// Every case of the offline suite, by name.
pub const CASES: &[(&str, Case)] = &[
    ("offline_append_and_scan", offline_append_and_scan),
    ("offline_point_in_time_join", offline_point_in_time_join),
    ("offline_survives_reopen", offline_survives_reopen),
];

/// Run one case on a fresh subject from `factory` (what each stamped test does).
pub fn run(factory: impl Fn() -> Subject<dyn OfflineStore>, case: Case, caps: &Capabilities) {
    let subject = factory();
    case(&subject, caps);
}

/// Rows come back in arrival order, all types intact, filtered by the event-time window.
pub fn offline_append_and_scan(subject: &Subject<dyn OfflineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
    let g = "conf_off_scan";
    let rows: Vec<FeatureRow> = (0..20)
        .map(|n| FeatureRow::new(format!("u{}", n % 3), t(20 - n), all_types_values(n)))
        .collect();
    store.append(g, &rows[..10]).unwrap();
    store.append(g, &rows[10..]).unwrap();
    store.append(g, &[]).unwrap();
    assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows);
    let window = ScanOptions::window(Some(t(5)), Some(t(10)));
    let got = store.rows(g, &window).unwrap();
    let want: Vec<FeatureRow> = rows
        .iter()
        .filter(|r| window.contains(r.event_ts))
        .cloned()
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got, want);
    let mut seen = 0;
    store
        .scan(g, &ScanOptions::default(), &mut |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert!(store.groups().unwrap().iter().any(|x| x == g));
    assert!(
        store
            .rows("conf_off_never_written", &ScanOptions::default())
            .unwrap()
            .is_empty()
    );
    assert!(store.append("../escape", &rows).is_err());
    assert!(
        store.rows("../escape", &ScanOptions::default()).is_err()
            || store
                .rows("../escape", &ScanOptions::default())
                .unwrap()
                .is_empty()
    );
    // NaN survives bit-exactly.
    let nan = FeatureRow::new("n", t(1), vec![Value::Float64(f64::NAN)]);
    store.append("conf_off_nan", &[nan]).unwrap();
    let back = store.rows("conf_off_nan", &ScanOptions::default()).unwrap();
    assert!(matches!(back[0].values[0], Value::Float64(x) if x.is_nan()));
}

fn pit(
    store: &dyn OfflineStore,
    g: &FeatureGroup,
    frame: &EntityFrame,
    opts: &HistoricalOptions,
) -> Vec<Value> {
    let mut cols = vec![vec![Value::Null; frame.len()]];
    join_group(store, g, &[0], frame, opts, &mut cols).unwrap();
    cols.remove(0)
}

/// The point-in-time join over this store: newest row at or before each entity row, ties by
/// created time then arrival, TTL window, every row kept in order (duplicates too), as-of cut.
pub fn offline_point_in_time_join(subject: &Subject<dyn OfflineStore>, caps: &Capabilities) {
    let _ = caps;
    let store = &*subject.store;
    let g = small_group("conf_off_pit", Some(Duration::from_secs(100)));
    store
        .append(
            &g.name,
            &[
                x_row("a", 100, None, 1),
                x_row("a", 200, Some(205), 2),
                x_row("a", 200, Some(201), 20),
                x_row("b", 100, Some(100), 5),
            ],
        )
        .unwrap();
    // A late-arriving row: event 150, known only at 1000.
    store
        .append(
            &g.name,
            &[
                x_row("a", 150, Some(1000), 15),
                x_row("b", 100, Some(100), 6),
            ],
        )
        .unwrap();
    let frame: EntityFrame = [
        ("a", 99),   // before any row: null
        ("a", 100),  // exactly at the event: 1
        ("a", 160),  // late row 150 counts (no as-of)
        ("a", 250),  // 200 with the larger created time
        ("a", 301),  // 200 is 101 s old: outside TTL -> null, row kept
        ("zz", 150), // unknown entity: null, row kept
        ("b", 150),  // tie on (event, created): later arrival
        ("a", 160),  // duplicate entity row kept
    ]
    .into_iter()
    .map(|(k, s)| (k, t(s)))
    .collect();
    let got = pit(store, &g, &frame, &HistoricalOptions::default());
    let i = Value::Int64;
    assert_eq!(
        got,
        vec![
            Value::Null,
            i(1),
            i(15),
            i(2),
            Value::Null,
            Value::Null,
            i(6),
            i(15)
        ]
    );
    // As of time 500, the late row was not known yet.
    let got = pit(store, &g, &frame, &HistoricalOptions::as_of(t(500)));
    assert_eq!(got[2], i(1));
    assert_eq!(got[3], i(2));
    // As of 202 only the created-201 version of event 200 was known.
    let got = pit(store, &g, &frame, &HistoricalOptions::as_of(t(202)));
    assert_eq!(got[3], i(20));
}

/// Rows survive close and reopen, appends continue after it.
pub fn offline_survives_reopen(subject: &Subject<dyn OfflineStore>, caps: &Capabilities) {
    let _ = caps;
    let Some(reopen) = &subject.reopen else {
        return;
    };
    let open = || reopen();
    let g = "conf_off_reopen";
    let rows: Vec<FeatureRow> = (0..10)
        .map(|n| FeatureRow::new("u", t(n), all_types_values(n)))
        .collect();
    {
        let store = open();
        store.append(g, &rows[..5]).unwrap();
    }
    {
        let store = open();
        assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows[..5]);
        store.append(g, &rows[5..]).unwrap();
    }
    let store = open();
    assert_eq!(store.rows(g, &ScanOptions::default()).unwrap(), rows);
}
