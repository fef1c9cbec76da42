//! Run artifacts on S3-compatible object storage (feature `s3`): the file backend keeps the
//! metadata (path, size, SHA-256 in the run's log) and the bytes go to
//! `<experiment artifact location>/<run id>/artifacts/<path>`, MLflow's layout.

/// Whether an artifact location or URI is on S3.
pub(crate) fn is_s3(uri: &str) -> bool {
    uri.starts_with("s3://")
}

/// The error for an `s3://` artifact location in a build without feature `s3`.
#[cfg(not(feature = "s3"))]
pub(crate) fn needs_feature(uri: &str) -> crate::error::TrackingError {
    crate::error::TrackingError::invalid(
        "artifact location",
        format!("{uri} is on s3: build mlops-tracking with feature s3"),
    )
}

#[cfg(feature = "s3")]
pub(crate) use imp::S3Artifacts;

#[cfg(feature = "s3")]
mod imp {

    use std::collections::HashMap;
    use std::io::{self, Read};

    use mlops_s3::{S3Client, S3Config, S3Error};
    use parking_lot::Mutex;
    use sha2::{Digest as _, Sha256};

    use crate::artifact::{VerifyingReader, hex};
    use crate::error::{EntityKind, Result, TrackingError};
    use crate::ids::ExperimentId;
    use crate::model::ArtifactInfo;

    /// The S3 side of a file backend: the default artifact root of new experiments (when set) and
    /// one client per bucket, made on first use.
    #[derive(Debug, Default)]
    pub(crate) struct S3Artifacts {
        default: Mutex<Option<S3Config>>,
        clients: Mutex<HashMap<String, S3Client>>,
    }

    impl S3Artifacts {
        /// New experiments get `<config's url>/<experiment id>` as their artifact location, and
        /// the config's endpoint and credentials serve its bucket.
        pub(crate) fn set_default(&self, config: S3Config) {
            self.clients.lock().remove(config.bucket_name());
            *self.default.lock() = Some(config);
        }

        /// The artifact location of a new experiment, when a default S3 root is set.
        pub(crate) fn default_location(&self, id: &ExperimentId) -> Option<String> {
            self.default
                .lock()
                .as_ref()
                .map(|c| format!("{}/{id}", c.url()))
        }

        fn client(&self, bucket: &str) -> Result<S3Client> {
            if let Some(c) = self.clients.lock().get(bucket) {
                return Ok(c.clone());
            }
            let config = match &*self.default.lock() {
                Some(d) if d.bucket_name() == bucket => d.clone().prefix(""),
                _ => S3Config::from_env(bucket),
            };
            let url = config.url();
            let client = S3Client::connect(config).map_err(|e| map_err(&url, "", e))?;
            self.clients
                .lock()
                .insert(bucket.to_owned(), client.clone());
            Ok(client)
        }

        /// The client and the full key of `path` under `artifact_uri` (`s3://bucket/key/prefix`).
        fn locate(&self, artifact_uri: &str, path: &str) -> Result<(S3Client, String)> {
            let (bucket, prefix) = mlops_s3::parse_url(artifact_uri)
                .map_err(|e| TrackingError::invalid("artifact uri", e.to_string()))?;
            let key = if prefix.is_empty() {
                path.to_owned()
            } else {
                format!("{prefix}/{path}")
            };
            Ok((self.client(&bucket)?, key))
        }

        /// Upload `data` to `<artifact_uri>/<path>`, hashing it on the way (constant memory;
        /// multipart above the part size; nothing visible when it fails).
        pub(crate) fn upload(
            &self,
            artifact_uri: &str,
            path: &str,
            data: &mut dyn Read,
        ) -> Result<ArtifactInfo> {
            let (client, key) = self.locate(artifact_uri, path)?;
            let mut hashing = Hashing {
                inner: data,
                hasher: Sha256::new(),
            };
            let size = client
                .put_reader(&key, &mut hashing)
                .map_err(|e| map_err(&client.url(), &key, e))?;
            Ok(ArtifactInfo {
                path: path.to_owned(),
                size,
                sha256: hex(&hashing.hasher.finalize()),
            })
        }

        /// Stream the artifact back, checking size and SHA-256 at the end.
        pub(crate) fn open(
            &self,
            artifact_uri: &str,
            info: ArtifactInfo,
        ) -> Result<Box<dyn Read + Send>> {
            let (client, key) = self.locate(artifact_uri, &info.path)?;
            let reader = client
                .get(&key)
                .map_err(|e| map_err(&client.url(), &key, e))?;
            let name = format!("s3://{}/{key}", client.config().bucket_name());
            Ok(Box::new(VerifyingReader::new(
                reader,
                info.size,
                info.sha256,
                name,
            )))
        }
    }

    struct Hashing<'a> {
        inner: &'a mut dyn Read,
        hasher: Sha256,
    }

    impl Read for Hashing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
    }

    fn map_err(url: &str, key: &str, e: S3Error) -> TrackingError {
        match e {
            S3Error::NotFound { bucket, key } => TrackingError::NotFound {
                kind: EntityKind::Artifact,
                id: format!("s3://{bucket}/{key}"),
            },
            S3Error::Read { source } => TrackingError::Io {
                path: key.into(),
                source,
            },
            e => TrackingError::Remote {
                url: url.to_owned(),
                status: None,
                transient: matches!(e, S3Error::Request { .. }),
                message: e.to_string(),
            },
        }
    }
}
