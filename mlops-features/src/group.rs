//! Feature groups (Feast's feature views), feature services, rows and their validation.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
use crate::human::HumanTtl;
use crate::model::{
    EntityKey, FeatureRef, KeyPart, KeyType, Timestamp, Value, ValueType, duration_micros,
    validate_name,
};

/// One feature of a group: its name, type and documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// The feature's name, unique in its group.
    pub name: String,
    /// The type of its values (each value may also be null).
    pub dtype: ValueType,
    /// What the feature means.
    #[serde(default)]
    pub description: String,
    /// Where it comes from (a table, a topic, a job).
    #[serde(default)]
    pub source: String,
    /// How it is computed, in words.
    #[serde(default)]
    pub transform: String,
    /// The group version that added it (set by [`crate::FeatureStore::apply_group`]).
    #[serde(default = "one")]
    pub version: u32,
}

fn one() -> u32 {
    1
}

impl FeatureDef {
    /// A feature with a name and a type.
    #[must_use]
    pub fn new(name: &str, dtype: ValueType) -> Self {
        Self {
            name: name.to_owned(),
            dtype,
            description: String::new(),
            source: String::new(),
            transform: String::new(),
            version: 1,
        }
    }

    /// Set the description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        d.clone_into(&mut self.description);
        self
    }

    /// Set the source.
    #[must_use]
    pub fn source(mut self, s: &str) -> Self {
        s.clone_into(&mut self.source);
        self
    }

    /// Set the transform note.
    #[must_use]
    pub fn transform(mut self, t: &str) -> Self {
        t.clone_into(&mut self.transform);
        self
    }
}

/// One column of a group's entity key (Feast's join key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityColumn {
    /// The column name (`user_id`).
    pub name: String,
    /// Its type.
    pub dtype: KeyType,
}

/// A feature group (Feast's feature view): an entity key, typed features and a TTL.
///
/// Build one with [`FeatureGroup::builder`]. Features are positional: rows carry their values
/// in the order of [`FeatureGroup::features`]. Schema evolution only appends features (see
/// [`FeatureGroup::check_evolution`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureGroup {
    /// The group name.
    pub name: String,
    /// The entity key columns (one, or several for a compound key).
    pub entity: Vec<EntityColumn>,
    /// The features, in row order.
    pub features: Vec<FeatureDef>,
    /// How long a value stays valid after its event time; `None` means forever (Feast's zero
    /// TTL). A zero duration is refused by [`FeatureGroup::validate`]: say `None`.
    #[serde(with = "ttl_secs", rename = "ttl_seconds")]
    pub ttl: Option<Duration>,
    /// What the group holds.
    #[serde(default)]
    pub description: String,
    /// Free-form tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Whether the group is served from the online store.
    #[serde(default = "yes")]
    pub online: bool,
    /// The schema version: 1, plus one for every apply that added features.
    #[serde(default = "one")]
    pub version: u32,
}

fn yes() -> bool {
    true
}

mod ttl_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(ttl: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match ttl {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        secs.map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Builder of a [`FeatureGroup`].
#[derive(Debug, Clone)]
pub struct FeatureGroupBuilder {
    group: FeatureGroup,
}

impl FeatureGroupBuilder {
    /// Add an entity key column (call more than once for a compound key).
    #[must_use]
    pub fn entity(mut self, name: &str, dtype: KeyType) -> Self {
        self.group.entity.push(EntityColumn {
            name: name.to_owned(),
            dtype,
        });
        self
    }

    /// Add a feature with a name and a type.
    #[must_use]
    pub fn feature(self, name: &str, dtype: ValueType) -> Self {
        self.feature_def(FeatureDef::new(name, dtype))
    }

    /// Add a fully described feature.
    #[must_use]
    pub fn feature_def(mut self, def: FeatureDef) -> Self {
        self.group.features.push(def);
        self
    }

    /// Set the TTL: a [`Duration`], or `None` for values that never expire (the default, and
    /// what Feast's zero TTL means). A zero duration is refused by [`Self::build`]; say `None`.
    #[must_use]
    pub fn ttl(mut self, ttl: impl Into<Option<Duration>>) -> Self {
        self.group.ttl = ttl.into();
        self
    }

    /// Set the description.
    #[must_use]
    pub fn description(mut self, d: &str) -> Self {
        d.clone_into(&mut self.group.description);
        self
    }

    /// Add a tag.
    #[must_use]
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.group.tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Set whether the group is served online (default: yes).
    #[must_use]
    pub fn online(mut self, online: bool) -> Self {
        self.group.online = online;
        self
    }

    /// Check and return the group.
    ///
    /// # Errors
    /// See [`FeatureGroup::validate`].
    pub fn build(self) -> Result<FeatureGroup> {
        self.group.validate()?;
        Ok(self.group)
    }
}

impl FeatureGroup {
    /// Start building a group.
    #[must_use]
    pub fn builder(name: &str) -> FeatureGroupBuilder {
        FeatureGroupBuilder {
            group: Self {
                name: name.to_owned(),
                entity: Vec::new(),
                features: Vec::new(),
                ttl: None,
                description: String::new(),
                tags: BTreeMap::new(),
                online: true,
                version: 1,
            },
        }
    }

    /// Check names, uniqueness and shape.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad name, no entity column, no feature, or a
    /// duplicate entity column or feature name (named in the message), a zero TTL.
    pub fn validate(&self) -> Result<()> {
        validate_name("feature group name", &self.name)?;
        if self.ttl == Some(Duration::ZERO) {
            return Err(FeatureError::invalid(
                "feature group",
                format!(
                    "{}: a zero ttl is ambiguous (Feast reads it as \"never expires\"); use \
                     None for values that never expire, or a positive duration",
                    self.name
                ),
            ));
        }
        if self.entity.is_empty() {
            return Err(FeatureError::invalid(
                "feature group",
                format!("{} has no entity key column", self.name),
            ));
        }
        if self.features.is_empty() {
            return Err(FeatureError::invalid(
                "feature group",
                format!("{} has no features", self.name),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.entity {
            validate_name("entity column name", &c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(FeatureError::invalid(
                    "feature group",
                    format!("{}: duplicate entity column {:?}", self.name, c.name),
                ));
            }
        }
        for f in &self.features {
            validate_name("feature name", &f.name)?;
            if !seen.insert(f.name.as_str()) {
                return Err(FeatureError::invalid(
                    "feature group",
                    format!(
                        "{}: duplicate feature or column name {:?}",
                        self.name, f.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The TTL for people: `never`, or a duration such as `1 h` or `90 s` (see
    /// [`HumanDuration`](crate::HumanDuration)).
    ///
    /// ```
    /// use mlops_features::{FeatureGroup, KeyType, ValueType};
    /// use std::time::Duration;
    /// let g = FeatureGroup::builder("g").entity("id", KeyType::Int64)
    ///     .feature("x", ValueType::Int64).ttl(Duration::from_secs(3600)).build()?;
    /// assert_eq!(g.ttl_display().to_string(), "1 h");
    /// # Ok::<(), mlops_features::FeatureError>(())
    /// ```
    #[must_use]
    pub fn ttl_display(&self) -> HumanTtl {
        HumanTtl(self.ttl)
    }

    /// Whether a row with this event time is past the TTL at `now` (never without a TTL).
    #[must_use]
    pub fn is_expired(&self, event_ts: Timestamp, now: Timestamp) -> bool {
        self.ttl.is_some_and(|ttl| {
            now.as_micros().saturating_sub(event_ts.as_micros()) > duration_micros(ttl)
        })
    }

    /// Check an entity key used to read this group: a part of the wrong type is
    /// [`FeatureError::KeyTypeMismatch`] naming the column and both types; a wrong number of
    /// parts is [`FeatureError::InvalidArgument`].
    ///
    /// # Errors
    /// As above.
    pub fn check_key(&self, key: &EntityKey) -> Result<()> {
        let mut parts = key.parts();
        for col in &self.entity {
            match parts.next() {
                Some(p) if p.key_type() != col.dtype => {
                    return Err(FeatureError::KeyTypeMismatch {
                        group: self.name.clone(),
                        column: col.name.clone(),
                        expected: col.dtype,
                        got: p.key_type(),
                    });
                }
                Some(_) => {}
                None => {
                    return Err(FeatureError::invalid(
                        "entity key",
                        format!(
                            "{key} for feature group {} lacks key column {}",
                            self.name, col.name
                        ),
                    ));
                }
            }
        }
        if parts.next().is_some() {
            return Err(FeatureError::invalid(
                "entity key",
                format!(
                    "{key} has more parts than the {} key column(s) of feature group {}",
                    self.entity.len(),
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Index of a feature by name.
    #[must_use]
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// References to all features of the group.
    #[must_use]
    pub fn refs(&self) -> Vec<FeatureRef> {
        self.features
            .iter()
            .map(|f| FeatureRef::new(&self.name, &f.name).expect("validated names"))
            .collect()
    }

    /// Check that `new` is an allowed evolution of `self` (the stored definition) and return
    /// it with its version and its new features' versions set.
    ///
    /// Allowed: adding features at the end (the version goes up by one), changing the TTL,
    /// description, tags, online flag and feature documentation. Refused, with an error naming
    /// the feature or column: changing a feature's type, removing or reordering features,
    /// changing the entity key.
    ///
    /// # Errors
    /// [`FeatureError::Conflict`] describing the refused change.
    pub fn check_evolution(&self, new: &Self) -> Result<Self> {
        new.validate()?;
        let name = &self.name;
        if self.entity != new.entity {
            return Err(FeatureError::Conflict(format!(
                "feature group {name}: the entity key cannot change ({} -> {})",
                describe_entity(&self.entity),
                describe_entity(&new.entity)
            )));
        }
        for (i, old) in self.features.iter().enumerate() {
            match new.features.get(i) {
                Some(f) if f.name == old.name && f.dtype != old.dtype => {
                    return Err(FeatureError::Conflict(format!(
                        "feature group {name}: feature {:?} cannot change type from {} to {}",
                        old.name, old.dtype, f.dtype
                    )));
                }
                Some(f) if f.name == old.name => {}
                _ => {
                    return Err(FeatureError::Conflict(format!(
                        "feature group {name}: feature {:?} cannot be removed or moved; \
                         features are only appended",
                        old.name
                    )));
                }
            }
        }
        let mut out = new.clone();
        let added = new.features.len() > self.features.len();
        out.version = if added {
            self.version + 1
        } else {
            self.version
        };
        for (i, f) in out.features.iter_mut().enumerate() {
            f.version = self.features.get(i).map_or(out.version, |o| o.version);
        }
        Ok(out)
    }

    /// Check a batch of rows against the schema: the key shape, the number and types of
    /// values, and a NaN given for an integer feature.
    ///
    /// # Errors
    /// [`FeatureError::InvalidRow`] naming the first bad row and field.
    pub fn validate_rows(&self, rows: &[FeatureRow]) -> Result<()> {
        for (i, row) in rows.iter().enumerate() {
            self.validate_key(&row.key)
                .map_err(|(field, detail)| FeatureError::row(&self.name, i, field, detail))?;
            if row.values.len() != self.features.len() {
                return Err(FeatureError::row(
                    &self.name,
                    i,
                    "values",
                    format!(
                        "expected {} values, got {}",
                        self.features.len(),
                        row.values.len()
                    ),
                ));
            }
            for (f, v) in self.features.iter().zip(&row.values) {
                check_value(f, v).map_err(|d| FeatureError::row(&self.name, i, &f.name, d))?;
            }
        }
        Ok(())
    }

    /// Check an entity key's shape against the entity columns: `Err((column, detail))`.
    pub(crate) fn validate_key(
        &self,
        key: &EntityKey,
    ) -> std::result::Result<(), (String, String)> {
        let mut parts = key.parts();
        for col in &self.entity {
            match parts.next() {
                None => return Err((col.name.clone(), "missing entity key column".to_owned())),
                Some(p) if p.key_type() != col.dtype => {
                    return Err((
                        col.name.clone(),
                        format!("expected {}, got {}", col.dtype, p.key_type()),
                    ));
                }
                Some(_) => {}
            }
        }
        if parts.next().is_some() {
            return Err((
                "entity_key".to_owned(),
                format!(
                    "key {key} has more parts than the {} entity column(s)",
                    self.entity.len()
                ),
            ));
        }
        Ok(())
    }

    /// Convert a named [`Record`] into a positional [`FeatureRow`]. `row` is the record's index
    /// in its batch, used in errors.
    ///
    /// Features missing from the record are null. An `Int64` is accepted for a float feature and
    /// a `Float64` for a `Float32` feature; no other conversion is made.
    ///
    /// # Errors
    /// [`FeatureError::InvalidRow`] for a missing or mistyped entity column, an unknown or
    /// repeated field, a type mismatch, or a NaN given for an integer feature.
    pub fn row_from_record(&self, record: &Record, row: usize) -> Result<FeatureRow> {
        let err = |field: &str, detail: String| FeatureError::row(&self.name, row, field, detail);
        let mut parts: Vec<KeyPart<'_>> = Vec::with_capacity(self.entity.len());
        for col in &self.entity {
            let v = record.get(&col.name);
            let part = match (col.dtype, v) {
                (_, None | Some(Value::Null)) => {
                    return Err(err(&col.name, "missing entity key column".to_owned()));
                }
                (KeyType::String, Some(Value::String(s))) => KeyPart::String(s),
                (KeyType::Int64, Some(Value::Int64(i))) => KeyPart::Int64(*i),
                (t, Some(v)) => {
                    return Err(err(
                        &col.name,
                        format!("expected {t}, got {}", type_name(v)),
                    ));
                }
            };
            parts.push(part);
        }
        let mut values = vec![Value::Null; self.features.len()];
        let mut seen = vec![false; self.features.len()];
        for (name, v) in &record.fields {
            if self.entity.iter().any(|c| &c.name == name) {
                continue;
            }
            let Some(i) = self.feature_index(name) else {
                return Err(err(name, "no such feature in the group".to_owned()));
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(err(name, "field given twice".to_owned()));
            }
            let f = &self.features[i];
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let v = match (f.dtype, v) {
                (ValueType::Float64, Value::Int64(x)) => Value::Float64(*x as f64),
                (ValueType::Float32, Value::Int64(x)) => Value::Float32(*x as f32),
                (ValueType::Float32, Value::Float64(x)) => Value::Float32(*x as f32),
                _ => v.clone(),
            };
            check_value(f, &v).map_err(|d| err(name, d))?;
            values[i] = v;
        }
        Ok(FeatureRow {
            key: EntityKey::new(&parts),
            event_ts: record.event_ts,
            created_ts: record.created_ts,
            values,
        })
    }
}

fn describe_entity(cols: &[EntityColumn]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| format!("{}: {}", c.name, c.dtype))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn type_name(v: &Value) -> &'static str {
    v.value_type().map_or("null", ValueType::name)
}

fn check_value(f: &FeatureDef, v: &Value) -> std::result::Result<(), String> {
    if v.fits(f.dtype) {
        return Ok(());
    }
    if f.dtype == ValueType::Int64 && matches!(v, Value::Float64(x) if x.is_nan()) {
        return Err("NaN in an integer column (use null for a missing value)".to_owned());
    }
    Err(format!("expected {}, got {}", f.dtype, type_name(v)))
}

/// A named list of feature references served together (Feast's feature service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureService {
    /// The service name.
    pub name: String,
    /// The features it serves, in order.
    pub features: Vec<FeatureRef>,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

impl FeatureService {
    /// A service from a name and references.
    ///
    /// # Errors
    /// [`FeatureError::InvalidArgument`] for a bad name or an empty list.
    pub fn new(name: &str, features: Vec<FeatureRef>) -> Result<Self> {
        validate_name("feature service name", name)?;
        if features.is_empty() {
            return Err(FeatureError::invalid(
                "feature service",
                format!("{name} lists no features"),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            features,
            description: String::new(),
        })
    }
}

/// One ingested row, positional: the entity key, the event time, an optional created time (when
/// the row became known), and one value per feature in the group's order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// The entity key.
    pub key: EntityKey,
    /// When the feature values were observed.
    pub event_ts: Timestamp,
    /// When the row was written or became known; `None` counts as the event time.
    pub created_ts: Option<Timestamp>,
    /// One value per feature of the group, in order.
    pub values: Vec<Value>,
}

impl FeatureRow {
    /// A row without a created time.
    #[must_use]
    pub fn new(key: impl Into<EntityKey>, event_ts: Timestamp, values: Vec<Value>) -> Self {
        Self {
            key: key.into(),
            event_ts,
            created_ts: None,
            values,
        }
    }

    /// Set the created time.
    #[must_use]
    pub fn created(mut self, created: Timestamp) -> Self {
        self.created_ts = Some(created);
        self
    }

    /// The created time used for ordering: the created time, or the event time when absent.
    #[must_use]
    pub fn effective_created(&self) -> Timestamp {
        self.created_ts.unwrap_or(self.event_ts)
    }

    /// The ordering of versions of one entity: newer event, then newer created time. Equal
    /// versions are decided by arrival order (the later one wins).
    #[must_use]
    pub fn version(&self) -> (Timestamp, Timestamp) {
        (self.event_ts, self.effective_created())
    }
}

/// One ingested row by name, like a record of Feast's source dataframe (or the seed's dicts):
/// entity columns and features as named fields, plus the event and created times.
///
/// ```
/// use mlops_features::{Record, Timestamp};
/// let r = Record::new(Timestamp::from_secs(0)).with("user_id", "u001").with("age", 28);
/// assert_eq!(r.get("age").and_then(|v| v.as_i64()), Some(28));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// When the values were observed.
    pub event_ts: Timestamp,
    /// When the row became known.
    pub created_ts: Option<Timestamp>,
    /// Named fields: entity columns and features.
    pub fields: Vec<(String, Value)>,
}

impl Record {
    /// An empty record observed at `event_ts`.
    #[must_use]
    pub fn new(event_ts: Timestamp) -> Self {
        Self {
            event_ts,
            created_ts: None,
            fields: Vec::new(),
        }
    }

    /// Add a field.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.push((name.to_owned(), value.into()));
        self
    }

    /// Set the created time.
    #[must_use]
    pub fn created(mut self, created: Timestamp) -> Self {
        self.created_ts = Some(created);
        self
    }

    /// The first field with this name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> FeatureGroup {
        FeatureGroup::builder("user_features")
            .entity("user_id", KeyType::String)
            .feature("age", ValueType::Int64)
            .feature("avg_order_amount", ValueType::Float64)
            .ttl(Duration::from_secs(3600))
            .build()
            .unwrap()
    }

    #[test]
    fn duplicate_feature_names_are_rejected() {
        let err = FeatureGroup::builder("g")
            .entity("id", KeyType::Int64)
            .feature("x", ValueType::Int64)
            .feature("x", ValueType::Float64)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("duplicate") && err.to_string().contains("\"x\""));
        let err = FeatureGroup::builder("g")
            .entity("id", KeyType::Int64)
            .feature("id", ValueType::Float64)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("\"id\""), "{err}");
    }

    #[test]
    fn evolution_appends_and_versions() {
        let g = users();
        let mut g2 = g.clone();
        g2.features
            .push(FeatureDef::new("country", ValueType::String));
        let out = g.check_evolution(&g2).unwrap();
        assert_eq!(out.version, 2);
        assert_eq!(out.features[0].version, 1);
        assert_eq!(out.features[2].version, 2);
        let mut g3 = out.clone();
        g3.features[1].dtype = ValueType::Int64;
        let err = out.check_evolution(&g3).unwrap_err();
        assert!(err.to_string().contains("\"avg_order_amount\""), "{err}");
        assert!(err.to_string().contains("type"), "{err}");
        let mut g4 = out.clone();
        g4.features.remove(0);
        assert!(out.check_evolution(&g4).is_err());
        let mut g5 = out.clone();
        g5.entity[0].dtype = KeyType::Int64;
        assert!(out.check_evolution(&g5).is_err());
        let mut g6 = out.clone();
        g6.ttl = None;
        assert_eq!(out.check_evolution(&g6).unwrap().version, 2);
    }

    #[test]
    fn records_convert_and_name_the_bad_field() {
        let g = users();
        let t = Timestamp::from_secs(10);
        let ok = Record::new(t)
            .with("user_id", "u1")
            .with("age", 30)
            .with("avg_order_amount", 5);
        let row = g.row_from_record(&ok, 0).unwrap();
        assert_eq!(row.values, vec![Value::Int64(30), Value::Float64(5.0)]);
        let cases = [
            (Record::new(t).with("age", 30), "user_id", "missing"),
            (
                Record::new(t).with("user_id", 3).with("age", 30),
                "user_id",
                "expected string",
            ),
            (
                Record::new(t).with("user_id", "u").with("age", f64::NAN),
                "age",
                "NaN",
            ),
            (
                Record::new(t).with("user_id", "u").with("age", "old"),
                "age",
                "expected int64",
            ),
            (
                Record::new(t).with("user_id", "u").with("height", 1),
                "height",
                "no such feature",
            ),
        ];
        for (rec, field, detail) in cases {
            let err = g.row_from_record(&rec, 7).unwrap_err();
            match &err {
                FeatureError::InvalidRow {
                    row,
                    field: f,
                    detail: d,
                    ..
                } => {
                    assert_eq!((*row, f.as_str()), (7, field), "{err}");
                    assert!(d.contains(detail), "{err}");
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    #[test]
    fn group_json_round_trips() {
        let g = users();
        let json = serde_json::to_string(&g).unwrap();
        assert!(json.contains("\"ttl_seconds\":3600"), "{json}");
        assert_eq!(serde_json::from_str::<FeatureGroup>(&json).unwrap(), g);
    }
}
