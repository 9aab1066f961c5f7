//! The fleet's rules without I/O: desktop ids, who owns and who may see a desktop, leases, and
//! the one error type of fleet operations. `manager.rs` applies them.

use std::time::{SystemTime, UNIX_EPOCH};

use agentdesk_image::Size;
pub(crate) use agentdesk_store::DesktopRecord;
pub use agentdesk_store::Lease;

/// The longest desktop id.
pub const MAX_ID_LEN: usize = 40;

/// The shortest and longest lease, in seconds.
pub const LEASE_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// A desktop's name: `[a-z0-9][a-z0-9-]{0,39}`, chosen by its creator or generated. (Not
/// starting with '-', which a command line would take for an option.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DesktopId(String);

impl DesktopId {
    /// The desktop created at start.
    pub fn default_id() -> DesktopId {
        DesktopId("default".into())
    }

    /// Checks a caller's id.
    pub fn parse(text: &str) -> Result<DesktopId, FleetError> {
        let valid = text.len() <= MAX_ID_LEN
            && text
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(DesktopId(text.to_string()))
        } else {
            Err(FleetError::InvalidId {
                id: text.chars().take(MAX_ID_LEN + 10).collect(),
            })
        }
    }

    /// A new random id, `desk-` and ten letters or digits: not guessable, so that another
    /// token cannot learn that a desktop exists by trying to create it.
    pub fn generate() -> DesktopId {
        DesktopId(format!("desk-{}", random_tail()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Ten random letters or digits: the unguessable part of generated ids (desktops, snapshots)
/// and of names that must not collide (kept homes, restores in progress).
pub(crate) fn random_tail() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl std::fmt::Display for DesktopId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is asking: a token's name, and whether the token file marks it admin. On an open
/// loopback listener, and for the single `AGENTDESK_AUTH_TOKEN`, the caller is an admin: there
/// is nobody to keep apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// Sees and manages every desktop; what it creates is shared.
    pub admin: bool,
}

impl Caller {
    /// Whether this caller may see (and use) a desktop owned by `owner` (`None`: shared).
    pub fn sees(&self, owner: Option<&str>) -> bool {
        self.admin || owner.is_none_or(|o| o == self.name)
    }

    /// Whether this caller may destroy it: its owner, or an admin (a shared desktop is used by
    /// everyone, so only an admin removes it).
    pub fn manages(&self, owner: Option<&str>) -> bool {
        self.admin || owner == Some(self.name.as_str())
    }

    /// The owner of what this caller creates.
    pub fn owner_of_new(&self) -> Option<String> {
        (!self.admin).then(|| self.name.clone())
    }
}

/// Whether a desktop's apps reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// As the server does (default).
    On,
    /// Loopback only, in a network namespace of its own (needs the sandbox).
    Off,
}

/// What a creator asks for; everything is optional.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The id; generated when `None`.
    pub id: Option<String>,
    /// The screen size; the server's `--screen` when `None`.
    pub screen: Option<Size>,
    /// Network access; on when `None`.
    pub network: Option<Network>,
    /// The apps it offers, within the operator's policy; all when empty.
    pub apps: Vec<String>,
    /// A snapshot (id or label) whose home it starts with; an empty home when `None`.
    pub from_snapshot: Option<String>,
}

/// A desktop as the caller may see it.
#[derive(Debug, Clone)]
pub struct DesktopInfo {
    /// Its id.
    pub id: DesktopId,
    /// The token that owns it, or `None` when shared.
    pub owner: Option<String>,
    /// `running`, `paused`, `starting`, `restarting`, or `stopped` (not started since the
    /// server started: the next call or view starts it).
    pub state: &'static str,
    /// The screen size.
    pub screen: Size,
    /// Network access.
    pub network: Network,
    /// Its app allow list (empty: all the operator allows).
    pub apps: Vec<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last call or view.
    pub last_used: u64,
    /// The lease, if one is held (an expired one is not shown).
    pub lease: Option<Lease>,
    /// Whether it is the desktop `/mcp` drives.
    pub is_default: bool,
    /// Live-view connections open now.
    pub viewers: usize,
}

/// Why a fleet operation failed. Structured, so that each surface (MCP tool, REST, CLI) says
/// it in its own words; the `Display` text is a plain sentence for logs and the CLI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// No desktop by that id that this caller may see (whether or not another token has one).
    #[error("no desktop named {id:?}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The id is not `[a-z0-9][a-z0-9-]{0,39}`.
    #[error(
        "{id:?} is not a valid desktop id: use 1 to 40 of a-z, 0-9 and '-', starting with a \
         letter or digit"
    )]
    InvalidId {
        /// What was given (cut).
        id: String,
    },
    /// The id is taken (by this caller or another: ids are one namespace).
    #[error("the desktop id {id:?} is taken; choose another or leave it out to get a new one")]
    Taken {
        /// The id asked for.
        id: String,
    },
    /// `--max-desktops` reached.
    #[error("this server holds at most {max} desktops (--max-desktops); destroy one first")]
    Full {
        /// The limit.
        max: usize,
    },
    /// The caller sees the desktop but may not do this to it.
    #[error("{what}")]
    Forbidden {
        /// What was refused and why.
        what: String,
    },
    /// Leased by another token.
    #[error("desktop {id:?} is leased by {holder:?} for {secs} more seconds")]
    Leased {
        /// The desktop.
        id: String,
        /// The holder's token name.
        holder: String,
        /// Seconds until the lease lapses unless renewed.
        secs: u64,
    },
    /// A release or heartbeat of a desktop this caller does not lease.
    #[error("desktop {id:?} is not leased by you")]
    NotLeased {
        /// The desktop.
        id: String,
    },
    /// A request that cannot be met as asked (a bad size, an option this server lacks).
    #[error("{0}")]
    BadRequest(String),
    /// The desktop's processes did not start.
    #[error("the desktop {id:?} did not start: {message}")]
    Start {
        /// The desktop.
        id: String,
        /// Why (the X server, the window manager ...).
        message: String,
    },
    /// The store failed; nothing was changed.
    #[error("{0}")]
    Store(#[from] agentdesk_store::StoreError),
    /// No snapshot by that id or label that this caller may see.
    #[error("no snapshot named {snapshot:?}")]
    SnapshotNotFound {
        /// The id or label asked for.
        snapshot: String,
    },
    /// Saving, restoring or checking a snapshot failed (a damaged one names the file).
    #[error("{0}")]
    Snapshot(#[from] agentdesk_snapshot::SnapshotError),
    /// Would lose something the caller may not mean to: asked again with `force`, it is done.
    #[error("{what}")]
    NeedsForce {
        /// What would be lost, and how to ask.
        what: String,
    },
    /// Stopped before it finished (a time limit, a client that went away) and changed
    /// nothing, or still going on in the background: said which in `what`.
    #[error("{what}")]
    Unfinished {
        /// What happened, and what to do.
        what: String,
    },
    /// The caller already has as many of these running as it may; it may try again later.
    #[error("{what}")]
    Busy {
        /// What is running, and the limit.
        what: String,
    },
    /// No file or directory at that path in the desktop's home.
    #[error("no file or directory {path:?} in the desktop's home")]
    NoSuchFile {
        /// The path asked for.
        path: String,
    },
}

impl FleetError {
    /// Whether the caller's request was refused as asked (as opposed to a failure inside the
    /// server): the audit log counts these as refusals.
    pub fn is_rejection(&self) -> bool {
        !matches!(
            self,
            FleetError::Start { .. }
                | FleetError::Store(_)
                | FleetError::Snapshot(_)
                | FleetError::Unfinished { .. }
        )
    }
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The lease in force on `record` at `now`, if any (an expired one is none).
pub(crate) fn live_lease(record: &DesktopRecord, now: u64) -> Option<&Lease> {
    record.lease.as_ref().filter(|l| l.expires > now)
}

/// Takes a lease on `record` for `caller`, or says who holds it.
pub(crate) fn take_lease(
    record: &mut DesktopRecord,
    caller: &Caller,
    seconds: u64,
    now: u64,
) -> Result<(), FleetError> {
    if let Some(lease) = live_lease(record, now) {
        if lease.holder != caller.name {
            return Err(FleetError::Leased {
                id: record.id.clone(),
                holder: lease.holder.clone(),
                secs: lease.expires - now,
            });
        }
    }
    record.lease = Some(Lease {
        holder: caller.name.clone(),
        expires: now + seconds,
        seconds,
    });
    Ok(())
}

/// Renews (`renew`) or gives up the caller's lease. An admin may release anyone's.
pub(crate) fn end_or_renew_lease(
    record: &mut DesktopRecord,
    caller: &Caller,
    renew: bool,
    now: u64,
) -> Result<(), FleetError> {
    let Some(lease) = live_lease(record, now) else {
        return Err(FleetError::NotLeased {
            id: record.id.clone(),
        });
    };
    let holder = lease.holder == caller.name;
    match (renew, holder, caller.admin) {
        (true, true, _) => {
            let seconds = lease.seconds;
            record.lease = Some(Lease {
                holder: caller.name.clone(),
                expires: now + seconds,
                seconds,
            });
            Ok(())
        }
        (false, true, _) | (false, false, true) => {
            record.lease = None;
            Ok(())
        }
        _ => Err(FleetError::NotLeased {
            id: record.id.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str, admin: bool) -> Caller {
        Caller {
            name: name.into(),
            admin,
        }
    }

    fn record() -> DesktopRecord {
        DesktopRecord {
            id: "d1".into(),
            owner: Some("alice".into()),
            width: 1280,
            height: 800,
            network: true,
            apps: vec![],
            created: 0,
            last_used: 0,
            lease: None,
        }
    }

    #[test]
    fn ids_are_short_lowercase_words() {
        for ok in ["default", "a", "worker-1", &"x".repeat(40)] {
            assert_eq!(DesktopId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "A",
            "a b",
            "../x",
            "a/b",
            "é",
            &"x".repeat(41),
            "a\0",
            "-",
            "-x",
        ] {
            assert!(
                matches!(DesktopId::parse(bad), Err(FleetError::InvalidId { .. })),
                "{bad:?}"
            );
        }
        let generated = DesktopId::generate();
        assert!(DesktopId::parse(generated.as_str()).is_ok());
        assert_ne!(generated, DesktopId::generate());
    }

    #[test]
    fn owners_see_their_own_admins_see_all_shared_is_for_everyone() {
        let (alice, bob, root) = (
            caller("alice", false),
            caller("bob", false),
            caller("ops", true),
        );
        assert!(alice.sees(Some("alice")) && !bob.sees(Some("alice")) && root.sees(Some("alice")));
        assert!(alice.sees(None) && bob.sees(None));
        assert!(alice.manages(Some("alice")) && !bob.manages(Some("alice")));
        assert!(!alice.manages(None) && root.manages(None));
        assert_eq!(alice.owner_of_new().as_deref(), Some("alice"));
        assert_eq!(root.owner_of_new(), None);
    }

    #[test]
    fn leases_are_exclusive_until_they_lapse() {
        let (alice, bob, root) = (
            caller("alice", false),
            caller("bob", false),
            caller("ops", true),
        );
        let mut r = record();
        take_lease(&mut r, &alice, 60, 100).unwrap();
        assert!(matches!(
            take_lease(&mut r, &bob, 60, 120),
            Err(FleetError::Leased { secs: 40, .. })
        ));
        // The holder may take it again (a retry), which renews it.
        take_lease(&mut r, &alice, 60, 130).unwrap();
        assert_eq!(r.lease.as_ref().unwrap().expires, 190);
        end_or_renew_lease(&mut r, &alice, true, 150).unwrap();
        assert_eq!(r.lease.as_ref().unwrap().expires, 210);
        assert!(end_or_renew_lease(&mut r, &bob, true, 150).is_err());
        assert!(end_or_renew_lease(&mut r, &bob, false, 150).is_err());
        // Lapsed: free for anyone, and nothing to renew.
        assert!(live_lease(&r, 210).is_none());
        assert!(end_or_renew_lease(&mut r, &alice, true, 211).is_err());
        take_lease(&mut r, &bob, 5, 211).unwrap();
        end_or_renew_lease(&mut r, &root, false, 212).unwrap();
        assert!(r.lease.is_none());
    }
}
