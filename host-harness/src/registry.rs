//! What loaded plugins provide, by plugin name.

use std::collections::HashMap;
use std::sync::RwLock;

use plugin_api::Provided;

/// The provided services, registered under their plugin's name.
#[derive(Debug, Default)]
pub struct Registry {
    services: RwLock<HashMap<String, Provided>>,
}

impl Registry {
    /// Registers what `name` provides (nothing is not registered).
    pub fn register(&self, name: &str, provided: Provided) {
        if provided.is_nothing() {
            return;
        }
        if let Ok(mut services) = self.services.write() {
            services.insert(name.to_owned(), provided);
        }
    }

    /// Removes what `name` provided.
    pub fn remove(&self, name: &str) {
        if let Ok(mut services) = self.services.write() {
            services.remove(name);
        }
    }

    /// What `name` provides, if it is loaded and provides something.
    pub fn get(&self, name: &str) -> Option<Provided> {
        self.services.read().ok()?.get(name).cloned()
    }

    /// The names of the plugins that provide something, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .services
            .read()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}
