//! One ticket section: its settings, where each came from, booth's defaults,
//! and what `__defaults__` passes on.

use booth_core::config::{Mode, TicketConfig};
use booth_core::Duration;

use super::{AttrPrereq, TicketInfo};

/// Where a ticket setting's value came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Default,
    /// A default computed from other settings, e.g. "expire / 2".
    Derived(&'static str),
    Line(usize),
    /// Set in a `__defaults__` section on that line.
    Inherited(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting<T> {
    pub value: T,
    pub from: Source,
}

impl<T: Clone> Setting<T> {
    pub(crate) fn new(value: T, from: Source) -> Self {
        Setting { value, from }
    }

    pub(crate) fn default(value: T) -> Self {
        Setting::new(value, Source::Default)
    }

    /// The setting as a later ticket sees it after `__defaults__`.
    fn inherited(&self) -> Self {
        let from = match self.from {
            Source::Line(n) | Source::Inherited(n) => Source::Inherited(n),
            other => other,
        };
        Setting::new(self.value.clone(), from)
    }
}

/// A ticket section while it is being read.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) mode: Setting<Mode>,
    pub(crate) expire: Setting<u64>,
    pub(crate) timeout: Setting<u64>,
    pub(crate) retries: Setting<u8>,
    pub(crate) renewal: Option<Setting<u64>>,
    pub(crate) acquire_after: Option<Setting<u64>>,
    pub(crate) handler: Option<Setting<Vec<String>>>,
    pub(crate) handler_timeout: Option<Setting<u64>>,
    pub(crate) prereqs: Vec<AttrPrereq>,
    pub(crate) weights: Option<Setting<Vec<u32>>>,
    pub(crate) drift: Setting<u32>,
    pub(crate) margin: Setting<u64>,
    pub(crate) stop_time: Setting<u64>,
}

impl Draft {
    /// booth's defaults (§3.2) and ours.
    pub(crate) fn new(name: &str, line: usize) -> Self {
        Draft {
            name: name.to_owned(),
            line,
            mode: Setting::default(Mode::Automatic),
            expire: Setting::default(600_000),
            timeout: Setting::default(5_000),
            retries: Setting::default(10),
            renewal: None,
            acquire_after: None,
            handler: None,
            handler_timeout: None,
            prereqs: Vec::new(),
            weights: None,
            drift: Setting::default(1000),
            margin: Setting::default(100),
            stop_time: Setting::default(0),
        }
    }

    /// A new ticket starting from `__defaults__`: booth's five inherited keys
    /// and our extension keys.
    pub(crate) fn inherit(defaults: &Draft, name: &str, line: usize) -> Self {
        Draft {
            mode: defaults.mode.inherited(),
            expire: defaults.expire.inherited(),
            timeout: defaults.timeout.inherited(),
            retries: defaults.retries.inherited(),
            weights: defaults.weights.as_ref().map(Setting::inherited),
            handler_timeout: defaults.handler_timeout.as_ref().map(Setting::inherited),
            drift: defaults.drift.inherited(),
            margin: defaults.margin.inherited(),
            stop_time: defaults.stop_time.inherited(),
            ..Draft::new(name, line)
        }
    }

    /// Fills in the defaults that depend on other keys, now that the section
    /// is complete (so the order of keys inside a section does not matter).
    pub(crate) fn resolve(self) -> Ticket {
        let renewal = self.renewal.unwrap_or(Setting::new(
            self.expire.value / 2,
            Source::Derived("expire / 2"),
        ));
        Ticket {
            acquire_after_given: self.acquire_after.is_some(),
            acquire_after: self.acquire_after.unwrap_or(Setting::default(0)),
            name: self.name,
            line: self.line,
            mode: self.mode,
            expire: self.expire,
            timeout: self.timeout,
            retries: self.retries,
            renewal,
            handler: self.handler,
            handler_timeout: self.handler_timeout,
            prereqs: self.prereqs,
            weights: self.weights,
            drift: self.drift,
            margin: self.margin,
            stop_time: self.stop_time,
        }
    }
}

/// A complete ticket section, every value known (times in milliseconds).
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub name: String,
    pub line: usize,
    pub mode: Setting<Mode>,
    pub expire: Setting<u64>,
    pub timeout: Setting<u64>,
    pub retries: Setting<u8>,
    pub renewal: Setting<u64>,
    pub acquire_after: Setting<u64>,
    pub acquire_after_given: bool,
    pub handler: Option<Setting<Vec<String>>>,
    /// None: booth's behaviour, the handler runs as long as it takes.
    pub handler_timeout: Option<Setting<u64>>,
    pub prereqs: Vec<AttrPrereq>,
    pub weights: Option<Setting<Vec<u32>>>,
    pub drift: Setting<u32>,
    pub margin: Setting<u64>,
    pub stop_time: Setting<u64>,
}

impl Ticket {
    pub(crate) fn to_core(&self) -> Option<TicketConfig> {
        let mut t = TicketConfig::new(&self.name).ok()?;
        t.mode = self.mode.value;
        t.expire = Duration(self.expire.value);
        t.timeout = Duration(self.timeout.value);
        t.retries = self.retries.value;
        t.renewal_freq = Duration(self.renewal.value);
        t.acquire_after = Duration(self.acquire_after.value);
        t.has_handler = self.handler.is_some();
        t.max_drift_ppm = self.drift.value;
        t.safety_margin = Duration(self.margin.value);
        Some(t)
    }

    pub(crate) fn info(&self) -> TicketInfo {
        TicketInfo {
            name: self.name.clone(),
            line: self.line,
            handler: self.handler.as_ref().map(|h| h.value.clone()),
            handler_timeout: self.handler_timeout.as_ref().map(|s| Duration(s.value)),
            attr_prereqs: self.prereqs.clone(),
            weights: self.weights.as_ref().map(|w| w.value.clone()),
            stop_time: Duration(self.stop_time.value),
        }
    }
}
