//! Checks captured datagrams two ways — booth's rules as written down in
//! [`super::boothwire`], and booth-core's decoder — and tabulates which
//! message kinds each implementation sent.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use booth_core::wire::parse_peer;

use super::boothwire::{self, Fields, Rules};
use super::capture::Datagram;
use super::formation::{Formation, Impl};

/// Per kind ("Ack.(HrtB)", "RVot[Admn]", …): datagrams and byte lengths sent
/// by booth members and by ours.
#[derive(Debug, Default, Clone)]
pub struct KindCount {
    pub booth: usize,
    pub ours: usize,
    pub booth_lens: Vec<usize>,
    pub ours_lens: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct WireAudit {
    pub total: usize,
    pub problems: Vec<String>,
    pub kinds: BTreeMap<String, KindCount>,
    /// Datagrams our members sent whose secs/usecs are not 0 without a key
    /// (booth sends 0 there; we always stamp, a known difference).
    pub stamped_without_key: usize,
}

impl WireAudit {
    /// The table, one kind per line.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "  {:<22} {:>6} {:>6}  lengths", "kind", "booth", "ours");
        for (k, c) in &self.kinds {
            let mut lens: Vec<usize> = c.booth_lens.iter().chain(&c.ours_lens).copied().collect();
            lens.sort_unstable();
            lens.dedup();
            let _ = writeln!(s, "  {k:<22} {:>6} {:>6}  {lens:?}", c.booth, c.ours);
        }
        s
    }

    /// Kinds our members sent that no booth member sent in this run.
    pub fn only_ours(&self) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|(_, c)| c.ours > 0 && c.booth == 0)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn only_booth(&self) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|(_, c)| c.booth > 0 && c.ours == 0)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Audits every datagram between members of `f`. Each is checked with the
/// sender's key (what a receiver configured like the sender needs).
pub fn audit(f: &Formation, dgs: &[Datagram]) -> WireAudit {
    let ids = f.site_ids();
    let tickets = [f.ticket.as_str()];
    let mut a = WireAudit::default();
    for d in dgs {
        let src = d.src.to_string();
        let Some(m) = f.members.iter().find(|m| m.ip == src) else {
            a.problems
                .push(format!("datagram from a non-member {src} to {}", d.dst));
            continue;
        };
        a.total += 1;
        let key = m.key.as_deref();
        let rules = Rules {
            members: &ids,
            tickets: &tickets,
            key,
            expire: 10,
            now: d.at as u64,
        };
        let who = format!("{} → {}", m.label(), d.dst);
        for p in boothwire::check(&d.payload, m.id, &rules) {
            a.problems.push(format!("{who}: {p}"));
        }
        let Ok(fields) = Fields::read(&d.payload) else {
            continue;
        };
        // Only our members mark their messages, and all of them do.
        match m.imp {
            Impl::Booth if fields.options != 0 => a.problems.push(format!(
                "{who}: booth sent options {:#x} between peers",
                fields.options
            )),
            Impl::Ours if fields.options & 0xFFFF_0000 != 0x6272_0000 => a.problems.push(format!(
                "{who}: no booth-rs mark in options ({:#x})",
                fields.options
            )),
            _ => {}
        }
        // booth-core's decoder must read the same fields.
        match parse_peer(&d.payload, key) {
            Ok((msg, _)) => {
                let same = msg.header.from == fields.from
                    && msg.header.opts == fields.opts
                    && msg.header.secs == fields.secs
                    && msg.header.usecs == fields.usecs
                    && msg.header.length == fields.length
                    && msg.cmd.as_u32() == fields.cmd
                    && msg.header.request == fields.request
                    && msg.header.reason == fields.reason
                    && msg.header.result == fields.result
                    && msg.body.leader == fields.leader
                    && msg.body.term == fields.term
                    && msg.body.valid_for == fields.valid_for
                    && fields.ticket().as_deref() == core::str::from_utf8(&msg.body.name).ok();
                if !same {
                    a.problems.push(format!(
                        "{who}: booth-core reads other fields: {msg:?} vs {fields:?}"
                    ));
                }
            }
            Err(e) => a.problems.push(format!(
                "{who}: booth-core refuses {}: {e:?}",
                fields.kind()
            )),
        }
        if m.imp == Impl::Ours && key.is_none() && (fields.secs != 0 || fields.usecs != 0) {
            a.stamped_without_key += 1;
        }
        let c = a.kinds.entry(fields.kind()).or_default();
        match m.imp {
            Impl::Booth => {
                c.booth += 1;
                c.booth_lens.push(d.payload.len());
            }
            Impl::Ours => {
                c.ours += 1;
                c.ours_lens.push(d.payload.len());
            }
        }
    }
    for c in a.kinds.values_mut() {
        c.booth_lens.dedup();
        c.ours_lens.dedup();
    }
    a
}
