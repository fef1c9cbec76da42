//! The shared conformance suites of [`OnlineStore`] and [`OfflineStore`](crate::OfflineStore): one contract, the
//! same in every crate of the workspace.
//!
//! - Each case is a plain `pub fn <case>(subject: &Subject<dyn Trait>, caps: &Capabilities)`
//!   that panics on a violation; [`online::CASES`] and [`offline::CASES`] list them all, so a
//!   third-party backend (enable the `conformance` feature) runs exactly the checks the
//!   built-in ones run.
//! - A [`Subject`] is the backend under test (`store`), an optional `reopen` factory for
//!   backends with durable state (the reopen cases open, write, drop and open again through it;
//!   it opens state of its own, separate from `store`'s, and is called again only after the
//!   previous handle is dropped), and a `guard` that lives as long as the subject (a temp dir,
//!   a server process).
//! - [`Capabilities`] says where a backend legitimately differs ([`Capabilities::ALL`] for the
//!   built-in ones).
//! - [`conformance_tests!`](crate::conformance_tests) stamps one `#[test]` per case:
//!   `conformance_tests!(online; <factory>)` or
//!   `conformance_tests!(offline; caps = <expr>; <factory>)`, where `<factory>` is an
//!   expression of type `impl Fn() -> Subject<dyn OnlineStore>` (or `dyn OfflineStore`),
//!   called once per test. `conformance_tests!(online; ignore = "needs redis-server"; ...)`
//!   marks every stamped test `#[ignore = "..."]` (for backends that need a server).
//!
//! Each case registers its own uniquely named group, so cases do not depend on each other.
//!
//! ```
//! use mlops_features::conformance::{self, Capabilities, Subject};
//! use mlops_features::{InMemoryOnlineStore, OnlineStore};
//!
//! // A fresh subject per case (cases may evict every group of the store they get).
//! fn subject() -> Subject<dyn OnlineStore> {
//!     let durable = InMemoryOnlineStore::new();
//!     Subject::<dyn OnlineStore>::new(Box::new(InMemoryOnlineStore::new()))
//!         .with_reopen(move || Box::new(durable.clone()))
//! }
//! for (_name, case) in conformance::online::CASES {
//!     case(&subject(), &Capabilities::ALL);
//! }
//! // In a test file, one #[test] per case: `mlops_features::conformance_tests!(online; subject);`
//! ```
#![allow(clippy::missing_panics_doc, clippy::too_many_lines)]

use std::time::Duration;

use crate::group::FeatureGroup;
use crate::group::FeatureRow;
use crate::model::{EntityKey, KeyType, Timestamp, Value, ValueType};
use crate::online::{FeatureValue, OnlineStore, ReadRequest};

pub mod offline;
pub mod online;

/// The backend under test, shared by every mlops crate's conformance suite (see
/// [`mlops_testkit::Subject`]).
pub use mlops_testkit::Subject;

/// Where a backend legitimately differs from the built-in ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Capabilities {
    /// [`OnlineStore::evict_expired`] removes expired rows and reports how many, and
    /// [`OnlineStore::entity_count`] stops counting them. Without it the eviction checks only
    /// verify that eviction never changes what reads answer.
    pub eviction: bool,
}

impl Capabilities {
    /// Everything (what the built-in backends support).
    pub const ALL: Self = Self { eviction: true };

    /// Set [`Capabilities::eviction`].
    #[must_use]
    pub const fn eviction(mut self, yes: bool) -> Self {
        self.eviction = yes;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// The TTL of the test groups: one hour.
pub const TTL: Duration = Duration::from_secs(3600);

/// Seconds as a timestamp.
#[must_use]
pub fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// A group named `name` with one feature of every type (`b`, `i`, `f`, `f32`, `s`, `ts`, `by`,
/// `v`), a string entity key `user_id` and a one-hour TTL.
#[must_use]
pub fn all_types_group(name: &str) -> FeatureGroup {
    FeatureGroup::builder(name)
        .entity("user_id", KeyType::String)
        .feature("b", ValueType::Bool)
        .feature("i", ValueType::Int64)
        .feature("f", ValueType::Float64)
        .feature("f32", ValueType::Float32)
        .feature("s", ValueType::String)
        .feature("ts", ValueType::Timestamp)
        .feature("by", ValueType::Bytes)
        .feature("v", ValueType::Float32Vector)
        .ttl(TTL)
        .build()
        .expect("valid group")
}

/// A group named `name` with one `Int64` feature `x`, a string key and the given TTL.
#[must_use]
pub fn small_group(name: &str, ttl: Option<Duration>) -> FeatureGroup {
    let b = FeatureGroup::builder(name)
        .entity("user_id", KeyType::String)
        .feature("x", ValueType::Int64);
    match ttl {
        Some(d) => b.ttl(d).build(),
        None => b.build(),
    }
    .expect("valid group")
}

/// One row of every type, seeded by `n`.
#[must_use]
pub fn all_types_values(n: i64) -> Vec<Value> {
    vec![
        Value::Bool(n % 2 == 0),
        Value::Int64(n),
        Value::Float64(n as f64 + 0.5),
        Value::Float32(n as f32 - 0.25),
        Value::String(format!("s{n}")),
        Value::Timestamp(t(n)),
        Value::Bytes(vec![n as u8, 0, 255]),
        Value::Float32Vector(vec![n as f32, 1.5]),
    ]
}

pub(crate) fn x_row(key: &str, event: i64, created: Option<i64>, x: i64) -> FeatureRow {
    let mut r = FeatureRow::new(key, t(event), vec![Value::Int64(x)]);
    r.created_ts = created.map(t);
    r
}

/// Read `features` of `keys` at `now`.
pub fn read(
    store: &dyn OnlineStore,
    group: &str,
    keys: &[EntityKey],
    features: &[usize],
    now: Timestamp,
) -> Vec<FeatureValue> {
    let mut out = vec![FeatureValue::default(); keys.len() * features.len()];
    store
        .read(&ReadRequest::new(group, keys, features, now), &mut out)
        .expect("read");
    out
}

pub(crate) fn read_x(store: &dyn OnlineStore, group: &str, key: &str, now: i64) -> FeatureValue {
    read(store, group, &[EntityKey::from(key)], &[0], t(now)).remove(0)
}

/// Stamp one `#[test]` per conformance case of a trait (see the [`conformance`] module):
/// `conformance_tests!(online; <factory>)`,
/// `conformance_tests!(offline; caps = <Capabilities>; <factory>)`;
/// `conformance_tests!(online; ignore = "needs redis-server"; <factory>)` ignores every test.
///
/// [`conformance`]: crate::conformance
#[macro_export]
macro_rules! conformance_tests {
    (@parse $kind:ident, $attrs:tt, caps = $caps:expr; $factory:expr) => {
        $crate::conformance_tests!(@cases $kind, $attrs, $caps, $factory);
    };
    (@parse $kind:ident, $attrs:tt, $factory:expr) => {
        $crate::conformance_tests!(@cases $kind, $attrs,
            $crate::conformance::Capabilities::ALL, $factory);
    };
    (@cases online, $attrs:tt, $caps:expr, $factory:expr) => {
        $crate::conformance_tests!(@stamp online, $attrs, $caps, $factory;
            online_round_trip_all_types, online_not_found_and_null, online_newest_event_wins,
            online_newest_wins_within_a_batch, online_ties_by_created_then_arrival,
            online_ttl_and_eviction, online_expired_at_write_not_stored,
            online_zero_ttl_refused, online_wrong_key_type_is_an_error,
            online_bad_batch_rejected_whole, online_schema_evolution,
            online_compound_keys_and_batches, online_survives_reopen);
    };
    (@cases offline, $attrs:tt, $caps:expr, $factory:expr) => {
        $crate::conformance_tests!(@stamp offline, $attrs, $caps, $factory;
            offline_append_and_scan, offline_point_in_time_join, offline_survives_reopen);
    };
    (@stamp $kind:ident, $attrs:tt, $caps:expr, $factory:expr; $($case:ident),*) => {
        $($crate::conformance_tests!(@one $kind, $attrs, $caps, $factory, $case);)*
        $crate::conformance_tests!(@all $kind, $attrs; $($case),*);
    };
    (@one $kind:ident, [$($attr:tt)*], $caps:expr, $factory:expr, $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            $crate::conformance::$kind::run($factory, $crate::conformance::$kind::$case, &$caps);
        }
    };
    (@all $kind:ident, [$($attr:tt)*]; $($case:ident),*) => {
        #[test]
        fn every_case_is_stamped() {
            let stamped: &[&str] = &[$(stringify!($case)),*];
            let listed: Vec<&str> =
                $crate::conformance::$kind::CASES.iter().map(|(n, _)| *n).collect();
            assert_eq!(stamped, listed.as_slice());
        }
    };
    ($kind:ident; ignore = $why:literal; $($rest:tt)*) => {
        $crate::conformance_tests!(@parse $kind, [#[ignore = $why]], $($rest)*);
    };
    ($kind:ident; $($rest:tt)*) => {
        $crate::conformance_tests!(@parse $kind, [], $($rest)*);
    };
}
