//! What an edit of the rollout state file moved: its previous pins compared with the current ones, and
//! the reason each hub of a moved wave is upgraded. Pure: values in, values out.

use std::collections::BTreeSet;

use crate::config::rollout::{Pin, Pins};

/// Reason prefix of a hub upgraded because its wave's pin moved.
pub const PIN_MOVED_REASON: &str = "Rollout pin of ";

/// What an edit of the rollout state file changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PinEdits {
    /// The state file did not change (or there is no `rollout`).
    #[default]
    Unchanged,
    /// The (chart, wave) pairs whose pin has a new commit.
    Moved(BTreeSet<(String, String)>),
    /// The state file changed but its previous version could not be compared: why. Every later wave of
    /// every chart in the file is upgraded.
    Unknown(String),
}

/// The (chart, wave) pairs of `current` whose commit differs from `previous` (or that `previous` lacks).
/// A pin whose `since` alone changed did not move.
pub fn moved_pins(previous: &Pins, current: &Pins) -> BTreeSet<(String, String)> {
    current
        .pins
        .iter()
        .flat_map(|(chart, waves)| waves.iter().map(move |(wave, pin)| (chart, wave, pin)))
        .filter(|(chart, wave, pin)| previous.get(chart, wave).map(|old| old.commit.as_str()) != Some(&pin.commit))
        .map(|(chart, wave, _)| (chart.clone(), wave.clone()))
        .collect()
}

impl PinEdits {
    /// The reason to upgrade a hub of `chart` in the later wave `wave`, whose pin is now `pin`, when the
    /// edit moved that pin (or could not be compared).
    pub fn reason(&self, chart: &str, wave: &str, pin: Option<&Pin>) -> Option<String> {
        let pin = pin?;
        let short = pin.short();
        match self {
            PinEdits::Unchanged => None,
            PinEdits::Moved(moved) => moved
                .contains(&(chart.to_owned(), wave.to_owned()))
                .then(|| format!("{PIN_MOVED_REASON}{chart} for wave {wave} moved to {short}")),
            PinEdits::Unknown(why) => Some(format!(
                "{PIN_MOVED_REASON}{chart} for wave {wave} is {short}; the state file changed and its previous \
                 version could not be compared ({why}), so every later wave is upgraded"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pins(entries: &[(&str, &str, &str)]) -> Pins {
        let mut pins: BTreeMap<String, BTreeMap<String, Pin>> = BTreeMap::new();
        for (chart, wave, digit) in entries {
            let pin = Pin { commit: digit.repeat(40), since: "2026-12-01T10:00:00Z".into() };
            pins.entry((*chart).to_owned()).or_default().insert((*wave).to_owned(), pin);
        }
        Pins { pins }
    }

    #[test]
    fn only_pins_with_a_new_commit_moved() {
        let before = pins(&[("basehub", "early", "1"), ("basehub", "rest", "2"), ("daskhub", "early", "3")]);
        let after = pins(&[("basehub", "early", "4"), ("basehub", "rest", "2"), ("daskhub", "early", "3")]);
        let moved = moved_pins(&before, &after);
        assert_eq!(moved, BTreeSet::from([("basehub".to_owned(), "early".to_owned())]));
        assert!(moved_pins(&after, &after).is_empty());
        // A pin the previous file lacks (a chart newly rolled) moved.
        let only_basehub = pins(&[("basehub", "early", "4"), ("basehub", "rest", "2")]);
        assert_eq!(moved_pins(&only_basehub, &after), BTreeSet::from([("daskhub".to_owned(), "early".to_owned())]));
    }

    #[test]
    fn reasons_name_the_new_pin() {
        let after = pins(&[("basehub", "early", "4"), ("basehub", "rest", "2")]);
        let edits = PinEdits::Moved(BTreeSet::from([("basehub".to_owned(), "early".to_owned())]));
        assert_eq!(
            edits.reason("basehub", "early", after.get("basehub", "early")).as_deref(),
            Some("Rollout pin of basehub for wave early moved to 4444444")
        );
        assert_eq!(edits.reason("basehub", "rest", after.get("basehub", "rest")), None);
        assert_eq!(PinEdits::Unchanged.reason("basehub", "early", after.get("basehub", "early")), None);
        let unknown = PinEdits::Unknown("not in the base commit".into());
        let reason = unknown.reason("basehub", "rest", after.get("basehub", "rest")).unwrap_or_default();
        assert!(reason.contains("is 2222222") && reason.contains("not in the base commit"), "{reason}");
    }
}
