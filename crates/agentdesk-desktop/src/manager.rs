//! [`DesktopManager`]: the desktops of one agentdesk process.
//!
//! Today the server drives one desktop, "default"; the manager is where creating, finding and
//! stopping many of them lives, so tools already act on "a desktop" rather than a global.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::{lock, Desktop, DesktopConfig, DesktopId};

/// Owns every desktop of the process.
#[derive(Debug)]
pub struct DesktopManager {
    desktops: Mutex<BTreeMap<DesktopId, Desktop>>,
    default: DesktopId,
}

impl DesktopManager {
    /// Starts the default desktop.
    pub async fn start(config: DesktopConfig) -> anyhow::Result<DesktopManager> {
        let id = config.id.clone();
        let desktop = Desktop::start(config).await?;
        let mut desktops = BTreeMap::new();
        desktops.insert(id.clone(), desktop);
        Ok(DesktopManager {
            desktops: Mutex::new(desktops),
            default: id,
        })
    }

    /// The desktop tools act on when none is named.
    pub fn default_desktop(&self) -> Option<Desktop> {
        self.get(&self.default)
    }

    /// A desktop by name.
    pub fn get(&self, id: &DesktopId) -> Option<Desktop> {
        self.desktops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Stops every desktop and everything running on it.
    pub async fn shutdown(&self) {
        let desktops = std::mem::take(&mut *lock(&self.desktops));
        for desktop in desktops.into_values() {
            desktop.stop().await;
        }
    }
}
