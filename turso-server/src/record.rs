//! One registered namespace: how it came to be, when, and its GC settings.

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;

/// How a namespace came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// Created on the admin port.
    #[default]
    Explicit,
    /// Created by a first use on the data port.
    Auto,
}

impl Origin {
    /// `explicit` or `auto`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Auto => "auto",
        }
    }
}

/// One known namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamespaceRecord {
    /// When it was created, Unix milliseconds.
    pub(crate) created_at_ms: u64,
    /// How it was created.
    pub(crate) origin: Origin,
    /// Last request (data port) or `access` call, Unix milliseconds.
    pub(crate) last_access_at_ms: u64,
    /// Locked namespaces are never collected.
    pub(crate) locked: bool,
    /// Time to live from creation, milliseconds; `None` = forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_ms: Option<u64>,
}

impl NamespaceRecord {
    /// A record created now.
    pub(crate) fn new(origin: Origin) -> Self {
        let now = now_ms();
        Self {
            created_at_ms: now,
            origin,
            last_access_at_ms: now,
            locked: origin == Origin::Explicit,
            ttl_ms: None,
        }
    }
}
