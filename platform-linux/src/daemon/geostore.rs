//! geostore attributes: per-ticket name → value, loaded from the CIB at
//! start (booth-protocol.md §5.3) and changed by `geostore set/delete`;
//! they feed `attr-prereq`.

use std::collections::BTreeMap;

use crate::config::{AttrPrereq, PrereqKind, PrereqOp};

use super::cib::RESERVED_ATTRS;

/// One attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub value: String,
    /// Epoch seconds of the last `geostore set`; `None` when loaded from the CIB.
    pub updated: Option<u64>,
}

/// Every ticket's attributes.
#[derive(Debug, Clone, Default)]
pub struct AttrTable {
    tickets: Vec<BTreeMap<String, Attr>>,
}

impl AttrTable {
    pub fn new(tickets: usize) -> Self {
        AttrTable {
            tickets: vec![BTreeMap::new(); tickets],
        }
    }

    /// Takes the CIB ticket state's attributes, skipping those booth manages.
    pub fn load_from_cib(&mut self, ticket: usize, attrs: &[(String, String)]) -> usize {
        let Some(map) = self.tickets.get_mut(ticket) else {
            return 0;
        };
        let mut n = 0;
        for (k, v) in attrs {
            if RESERVED_ATTRS.contains(&k.as_str()) {
                continue;
            }
            map.insert(
                k.clone(),
                Attr {
                    value: v.clone(),
                    updated: None,
                },
            );
            n += 1;
        }
        n
    }

    pub fn get(&self, ticket: usize, name: &str) -> Option<&Attr> {
        self.tickets.get(ticket)?.get(name)
    }

    pub fn set(&mut self, ticket: usize, name: &str, value: &str, now_secs: u64) {
        if let Some(map) = self.tickets.get_mut(ticket) {
            map.insert(
                name.to_owned(),
                Attr {
                    value: value.to_owned(),
                    updated: Some(now_secs),
                },
            );
        }
    }

    pub fn delete(&mut self, ticket: usize, name: &str) -> bool {
        self.tickets
            .get_mut(ticket)
            .is_some_and(|m| m.remove(name).is_some())
    }

    /// `geostore list` text: `<name> <value> <time>\n` per attribute, the
    /// time empty for attributes loaded from the CIB (booth prints the
    /// separating space anyway).
    pub fn list_text(&self, ticket: usize, fmt_time: impl Fn(u64) -> String) -> String {
        let mut s = String::new();
        if let Some(map) = self.tickets.get(ticket) {
            for (k, a) in map {
                let t = a.updated.map(&fmt_time).unwrap_or_default();
                s.push_str(&format!("{k} {} {t}\n", a.value));
            }
        }
        s
    }

    /// The first `attr-prereq` of `kind` this ticket's attributes fail.
    pub fn failed_prereq<'a>(
        &self,
        ticket: usize,
        prereqs: &'a [AttrPrereq],
        kind: PrereqKind,
    ) -> Option<&'a AttrPrereq> {
        prereqs.iter().filter(|p| p.kind == kind).find(|p| {
            let matches = self
                .get(ticket, &p.attr)
                .is_some_and(|a| a.value == p.value);
            match p.op {
                PrereqOp::Eq => !matches,
                PrereqOp::Ne => matches,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prereq(kind: PrereqKind, attr: &str, op: PrereqOp, value: &str) -> AttrPrereq {
        AttrPrereq {
            kind,
            attr: attr.to_owned(),
            op,
            value: value.to_owned(),
        }
    }

    #[test]
    fn load_skips_booth_attributes_and_lists_like_booth() {
        let mut t = AttrTable::new(2);
        let cib = [
            ("id", "tA"),
            ("granted", "true"),
            ("owner", "1"),
            ("expires", "2"),
            ("term", "3"),
            ("last-granted", "4"),
            ("booth-cfg-name", "b"),
            ("sr_status", "ACTIVE"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(t.load_from_cib(0, &cib), 1);
        t.set(0, "zz", "1 2", 1_795_594_217);
        assert_eq!(
            t.list_text(0, |s| format!("T{s}")),
            "sr_status ACTIVE \nzz 1 2 T1795594217\n"
        );
        assert_eq!(t.list_text(1, |_| String::new()), "");
        assert!(t.delete(0, "zz"));
        assert!(!t.delete(0, "zz"));
        assert_eq!(t.get(0, "sr_status").unwrap().value, "ACTIVE");
    }

    #[test]
    fn prereqs() {
        let mut t = AttrTable::new(1);
        let ps = [
            prereq(PrereqKind::Manual, "sr", PrereqOp::Eq, "ACTIVE"),
            prereq(PrereqKind::Manual, "maint", PrereqOp::Ne, "yes"),
            prereq(PrereqKind::Auto, "x", PrereqOp::Eq, "1"),
        ];
        assert_eq!(
            t.failed_prereq(0, &ps, PrereqKind::Manual).unwrap().attr,
            "sr"
        );
        t.set(0, "sr", "ACTIVE", 1);
        assert!(t.failed_prereq(0, &ps, PrereqKind::Manual).is_none());
        t.set(0, "maint", "yes", 1);
        assert_eq!(
            t.failed_prereq(0, &ps, PrereqKind::Manual).unwrap().attr,
            "maint"
        );
        assert_eq!(t.failed_prereq(0, &ps, PrereqKind::Auto).unwrap().attr, "x");
    }
}
