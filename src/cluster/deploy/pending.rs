//! A release left `pending-install`, `pending-upgrade` or `pending-rollback` (a deploy stopped
//! while helm ran) blocks every later upgrade: helm says "another operation
//! (install/upgrade/rollback) is in progress". Before each upgrade the deploy reads
//! `helm history <release> -o json`, and [`decide`] says what the latest revision asks for;
//! the `pending-release` input ([`super::PendingRelease`]) says whether to act or stop.

/// One revision of `helm history -o json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Revision {
    pub revision: u64,
    #[serde(default)]
    pub status: String,
}

/// Parses `helm history -o json`.
pub fn parse_history(json: &str) -> Result<Vec<Revision>, String> {
    serde_json::from_str::<Vec<Revision>>(json.trim()).map_err(|e| format!("not the JSON of `helm history`: {e}"))
}

/// What the history of a release asks for before an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing pending; `good` is the latest `deployed` (or `superseded`) revision, to roll back
    /// to after a failed upgrade (none for a new release).
    Clear { good: Option<u64> },
    /// The latest revision `revision` is `status` (`pending-upgrade`, …).
    Pending { revision: u64, status: String, recover: Recover },
}

/// How a pending release is recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recover {
    /// `helm rollback <release> <revision>`: the last `deployed`/`superseded` one.
    RollbackTo(u64),
    /// `helm uninstall <release>`: nothing was ever deployed (a `pending-install`).
    Uninstall,
}

fn is_good(status: &str) -> bool {
    matches!(status, "deployed" | "superseded")
}

/// What `history` asks for: the latest revision pending or not, and the last good one.
pub fn decide(history: &[Revision]) -> Decision {
    let latest = history.iter().max_by_key(|r| r.revision);
    let good =
        |below: u64| history.iter().filter(|r| r.revision < below && is_good(&r.status)).map(|r| r.revision).max();
    match latest {
        Some(latest) if latest.status.starts_with("pending-") => Decision::Pending {
            revision: latest.revision,
            status: latest.status.clone(),
            recover: good(latest.revision).map_or(Recover::Uninstall, Recover::RollbackTo),
        },
        Some(latest) => Decision::Clear {
            good: if latest.status == "deployed" { Some(latest.revision) } else { good(latest.revision + 1) },
        },
        None => Decision::Clear { good: None },
    }
}

/// Whether `helm history` failed because the release does not exist (a first install).
pub fn is_not_found(stderr: &str) -> bool {
    stderr.contains("release: not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(statuses: &[&str]) -> Vec<Revision> {
        statuses.iter().enumerate().map(|(i, s)| Revision { revision: i as u64 + 1, status: (*s).to_owned() }).collect()
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(&[]), Decision::Clear { good: None });
        assert_eq!(decide(&history(&["superseded", "deployed"])), Decision::Clear { good: Some(2) });
        assert_eq!(decide(&history(&["deployed", "failed"])), Decision::Clear { good: Some(1) });
        assert_eq!(decide(&history(&["failed"])), Decision::Clear { good: None });
        assert_eq!(
            decide(&history(&["superseded", "deployed", "pending-upgrade"])),
            Decision::Pending { revision: 3, status: "pending-upgrade".into(), recover: Recover::RollbackTo(2) }
        );
        assert_eq!(
            decide(&history(&["deployed", "failed", "pending-rollback"])),
            Decision::Pending { revision: 3, status: "pending-rollback".into(), recover: Recover::RollbackTo(1) }
        );
        assert_eq!(
            decide(&history(&["pending-install"])),
            Decision::Pending { revision: 1, status: "pending-install".into(), recover: Recover::Uninstall }
        );
    }

    #[test]
    fn history_json() {
        let json = r#"[{"revision":1,"updated":"2025-01-01T00:00:00Z","status":"superseded","chart":"basehub-0.1.0","app_version":"","description":"Install complete"},
                       {"revision":2,"updated":"2025-01-01T00:01:00Z","status":"pending-upgrade","chart":"basehub-0.1.0","app_version":"","description":"Preparing upgrade"}]"#;
        assert_eq!(parse_history(json).unwrap(), history(&["superseded", "pending-upgrade"]));
        assert!(parse_history("Error: nope").is_err());
        assert!(is_not_found("Error: release: not found\n"));
    }
}
