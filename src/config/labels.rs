//! The labels the planner reacts to: one table ([`LABELS`]) from which the
//! [`Label`] enum, [`Labels`]' defaults, the `labels` keys of `deployer.yaml`
//! (and their schema) and the list of known labels all come. Pure.

/// What one label of [`LABELS`] is: its key under `labels:` in `deployer.yaml`,
/// the label name used when the key is absent, and what the label does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelRule {
    pub label: Label,
    pub key: &'static str,
    pub default_name: &'static str,
    pub effect: &'static str,
}

/// Declares [`Label`] and [`LABELS`] from one list, so that a label is added in one place.
macro_rules! label_table {
    ($($variant:ident { key: $key:literal, default: $default:literal, effect: $effect:literal $(,)? },)*) => {
        /// A label the planner reacts to; its row in [`LABELS`] says what it does.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Label {
            $($variant,)*
        }

        /// The one table of the labels the planner reacts to, in [`Label`] order.
        /// [`Labels`]' defaults, the keys (and their schema) of the `labels` block of
        /// `deployer.yaml`, and the labels the planner knows (an unknown `deployer:`
        /// label is warned about) all come from it.
        pub const LABELS: &[LabelRule] =
            &[$(LabelRule { label: Label::$variant, key: $key, default_name: $default, effect: $effect },)*];
    };
}

label_table! {
    SkipDeploy { key: "skip_deploy", default: "deployer:skip-deploy", effect: "Plan nothing at all." },
    SkipDeployHubs {
        key: "skip_deploy_hubs",
        default: "deployer:skip-deploy-hubs",
        effect: "Plan no hub upgrades (support charts still upgrade).",
    },
    DeployHubs { key: "deploy_hubs", default: "deployer:deploy-hubs", effect: "Upgrade every hub." },
    DeploySupport { key: "deploy_support", default: "deployer:deploy-support", effect: "Upgrade every support chart." },
    RolloutAll {
        key: "rollout_all",
        default: "deployer:rollout-all",
        effect: "With `rollout`: a change of a rolled chart upgrades the hubs of every wave, not only the first.",
    },
}

/// How many labels [`LABELS`] has.
pub const LABEL_COUNT: usize = LABELS.len();

/// The keys of the `labels` block, in [`LABELS`] order (what an unknown key's error lists).
pub const LABEL_KEYS: [&str; LABEL_COUNT] = {
    let mut keys = [""; LABEL_COUNT];
    let mut index = 0;
    while index < LABEL_COUNT {
        // Row `index` is the label whose discriminant is `index`: `Labels` indexes its names so.
        assert!(LABELS[index].label as usize == index, "LABELS is in Label order");
        keys[index] = LABELS[index].key;
        index += 1;
    }
    keys
};

impl Label {
    /// This label's row of [`LABELS`].
    pub fn rule(self) -> &'static LabelRule {
        &LABELS[self as usize]
    }
}

/// The label names the planner reacts to: one per row of [`LABELS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    names: [String; LABEL_COUNT],
}

impl Labels {
    /// The names `deployer.yaml` gives (by [`Label`] order), the default name where it gives none.
    pub fn with_names(names: [Option<String>; LABEL_COUNT]) -> Self {
        let mut index = 0;
        Labels {
            names: names.map(|name| {
                let name = name.unwrap_or_else(|| LABELS[index].default_name.to_owned());
                index += 1;
                name
            }),
        }
    }

    /// The name of `label`.
    pub fn name(&self, label: Label) -> &str {
        &self.names[label as usize]
    }

    /// Every label with its name, in [`LABELS`] order.
    pub fn all(&self) -> impl Iterator<Item = (&'static LabelRule, &str)> {
        LABELS.iter().zip(self.names.iter().map(String::as_str))
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::with_names(Default::default())
    }
}
