//! The worker StatefulSet's `scale` subresource through kube-rs: read `spec.replicas` and change it.
//! Only `get` and `patch` of `statefulsets/scale` are used, which is all the autoscaler's RBAC allows.

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Api, Patch, PatchParams};

/// `spec.replicas` and the resource version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleReading {
    pub replicas: u32,
    pub resource_version: Option<String>,
}

/// The scale subresource of one StatefulSet.
#[derive(Clone)]
pub struct WorkerScale {
    api: Api<StatefulSet>,
    name: String,
}

impl WorkerScale {
    pub fn new(client: kube::Client, namespace: &str, name: impl Into<String>) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn read(&self) -> anyhow::Result<ScaleReading> {
        let scale = self.api.get_scale(&self.name).await?;
        let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        let replicas = u32::try_from(replicas).map_err(|_| {
            anyhow::anyhow!("statefulset {} reports {replicas} replicas", self.name)
        })?;
        Ok(ScaleReading {
            replicas,
            resource_version: scale.metadata.resource_version,
        })
    }

    /// Sets `spec.replicas`, refused by the server (409) if the scale changed since `read`.
    pub async fn set(&self, replicas: u32, read: &ScaleReading) -> anyhow::Result<()> {
        let mut patch = serde_json::json!({ "spec": { "replicas": replicas } });
        if let Some(version) = &read.resource_version {
            patch["metadata"] = serde_json::json!({ "resourceVersion": version });
        }
        self.api
            .patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}
