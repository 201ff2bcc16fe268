//! Persistent term, vote and lease knowledge in two flash slots.
//!
//! The engine asks for every promise to be on stable storage before the
//! packet that makes it leaves ([`booth_core::Event::Persist`]). On a
//! microcontroller that storage is a flash region; this module keeps the
//! whole formation's state in one small record and writes it so that a power
//! cut at any instant loses nothing that was promised:
//!
//! * Two slots. A write always goes to the slot that does **not** hold the
//!   newest valid record, so the previous record survives a torn write.
//! * Each record carries a sequence number; at start the valid record with
//!   the highest one wins.
//! * The 16-byte record header (magic, sequence number, length, CRC-32) is
//!   programmed **last**, after the body. A slot whose header is still
//!   erased never held a committed record, so a write cut short before its
//!   header is the same as no write at all — and nothing that depended on it
//!   was sent, because the caller sends only after [`StateStore::persist`]
//!   returned.
//! * A header whose CRC does not match its body is damage. When no valid
//!   record is left but damage is found, every ticket restarts with
//!   [`Restore::Amnesia`] (refuse votes for a whole lease), never as fresh.
//!   So does an intact record in a format this build cannot decode.
//!
//! Record layout (all integers little-endian):
//!
//! | Offset | Size | Field |
//! |---|---|---|
//! | 0 | 4 | magic `BRS1` |
//! | 4 | 4 | sequence number |
//! | 8 | 4 | body length |
//! | 12 | 4 | CRC-32 (IEEE) of bytes 4..12 followed by the body |
//! | 16 | n | body: postcard [`RecordHead`], then `count` × postcard [`Entry`] |
//!
//! Entries are keyed by the CRC-32 of the ticket name, so re-provisioning
//! with tickets added or reordered keeps each ticket's state. The head holds
//! a fingerprint of the member list (IDs, roles, own index): member indices
//! in the state mean nothing under another member list, so a mismatch
//! restores every ticket as [`Restore::Amnesia`] with its last term.
//!
//! Only small buffers are used (a 32-byte window), never one of record size.

use booth_core::engine::restore::{self, Stored};
use booth_core::engine::{MemberIndex, PersistedTicket, Restore};
use booth_core::{Config, Instant, WallTime};
use heapless::Vec;
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"BRS1";
/// Size of the record header.
pub const HEADER_LEN: usize = 16;
const VERSION: u8 = 1;
/// Largest postcard encoding of a head or an entry.
const WINDOW: usize = 32;

/// One of the two slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// A flash region of two equal slots, erased and programmed like flash.
///
/// `erase` sets a slot to the erased state (`0xFF` on NOR flash; a board may
/// also report `0x00`, both count as erased); `program` writes bytes at an
/// offset into an erased part. Either may be cut short by a power loss at
/// any byte. Reads of an erased slot return the erased value.
pub trait Storage {
    type Error: core::fmt::Debug;
    /// Bytes in one slot.
    fn slot_len(&self) -> usize;
    fn read(&mut self, slot: Slot, offset: usize, buf: &mut [u8]) -> Result<(), Self::Error>;
    fn erase(&mut self, slot: Slot) -> Result<(), Self::Error>;
    fn program(&mut self, slot: Slot, offset: usize, data: &[u8]) -> Result<(), Self::Error>;
}

/// What went wrong with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StoreError<E> {
    /// The storage itself failed (the record may be torn; the previous one stands).
    Storage(E),
    /// The record does not fit in a slot.
    SlotTooSmall { need: usize, have: usize },
    /// `ticket` is not a configured ticket.
    NoSuchTicket,
}

/// Start of the body: format version, formation fingerprint, wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordHead {
    pub version: u8,
    /// [`formation_fingerprint`] of the configuration that wrote it.
    pub members: u32,
    /// Wall-clock seconds when it was written (a floor for the clock at boot).
    pub wall_secs: u64,
    pub count: u16,
}

/// One ticket's saved knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Saved {
    Known(PersistedTicket),
    /// Restored with amnesia and not persisted since: stays amnesia.
    Amnesia {
        term: u32,
    },
}

/// What a ticket restores as, by the core's one policy
/// (`booth_core::engine::restore`); an arbitrator has no site store.
fn restore_of(saved: Option<Saved>) -> Restore {
    let stored = match saved {
        None => Stored::Nothing,
        Some(Saved::Known(p)) => Stored::Entry(p),
        Some(Saved::Amnesia { term }) => Stored::Untrusted { term },
    };
    restore::restore(stored, None, Instant(0))
}

/// One ticket in the body, keyed by [`name_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: u32,
    pub saved: Saved,
}

/// How the state was found at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Found {
    /// Both slots empty: the first start of this member.
    Empty,
    /// A valid record of this formation.
    Valid { seq: u32, slot: Slot },
    /// A valid record written under a different member list.
    OtherFormation { seq: u32, slot: Slot },
    /// No valid record, but damage: started with amnesia.
    Damaged,
}

/// What the node starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<const TICKETS: usize> {
    pub found: Found,
    /// One per configured ticket, in configuration order.
    pub restores: Vec<Restore, TICKETS>,
    /// Wall clock of the last write, if a record was read.
    pub wall: Option<WallTime>,
}

/// The key of a ticket's entry: CRC-32 of its name.
pub fn name_key(name: &str) -> u32 {
    crate::crc::hash(name.as_bytes())
}

/// CRC-32 over every member's ID and role, and our own index.
pub fn formation_fingerprint<const T: usize, const M: usize>(
    config: &Config<T, M>,
    me: MemberIndex,
) -> u32 {
    let mut h = crate::crc::Hasher::new();
    for m in &config.members {
        h.update(&m.id.0.to_le_bytes());
        h.update(&[m.role as u8]);
    }
    h.update(&(me as u32).to_le_bytes());
    h.finalize()
}

/// The state of every ticket, last written to the newest slot.
#[derive(Debug)]
pub struct StateStore<S, const TICKETS: usize> {
    storage: S,
    fingerprint: u32,
    names: Vec<u32, TICKETS>,
    saved: Vec<Option<Saved>, TICKETS>,
    /// Slot and sequence number of the newest valid record.
    newest: Option<(Slot, u32)>,
    /// Records written since start.
    pub writes: u32,
}

/// A header as read: magic checked by the caller.
#[derive(Debug, Clone, Copy)]
struct Header {
    seq: u32,
    len: u32,
    crc: u32,
}

enum SlotState {
    /// Header erased: never held a committed record.
    Empty,
    Valid(Header),
    Damaged,
}

impl<S: Storage, const TICKETS: usize> StateStore<S, TICKETS> {
    /// Reads both slots and works out what each ticket of `config` restores to.
    pub fn open<const MEMBERS: usize>(
        mut storage: S,
        config: &Config<TICKETS, MEMBERS>,
        me: MemberIndex,
    ) -> Result<(Self, Loaded<TICKETS>), StoreError<S::Error>> {
        let fingerprint = formation_fingerprint(config, me);
        let mut names = Vec::new();
        for t in &config.tickets {
            // Same capacity as the config's ticket list.
            let _ = names.push(name_key(&t.name));
        }
        let a = inspect(&mut storage, Slot::A).map_err(StoreError::Storage)?;
        let b = inspect(&mut storage, Slot::B).map_err(StoreError::Storage)?;
        let damaged = matches!(a, SlotState::Damaged) || matches!(b, SlotState::Damaged);
        let newest = match (a, b) {
            (SlotState::Valid(x), SlotState::Valid(y)) => {
                if newer(y.seq, x.seq) {
                    Some((Slot::B, y))
                } else {
                    Some((Slot::A, x))
                }
            }
            (SlotState::Valid(x), _) => Some((Slot::A, x)),
            (_, SlotState::Valid(y)) => Some((Slot::B, y)),
            _ => None,
        };

        let mut saved: Vec<Option<Saved>, TICKETS> = Vec::new();
        let mut restores: Vec<Restore, TICKETS> = Vec::new();
        let mut wall = None;
        let found;
        match newest {
            None => {
                found = if damaged {
                    Found::Damaged
                } else {
                    Found::Empty
                };
                for _ in &names {
                    let s = damaged.then_some(Saved::Amnesia { term: 0 });
                    let _ = saved.push(s);
                    let _ = restores.push(restore_of(s));
                }
            }
            Some((slot, h)) => {
                let Some(head) = read_body(&mut storage, slot, h, &names, &mut saved)
                    .map_err(StoreError::Storage)?
                else {
                    // Intact but in a format we cannot read: any promise may
                    // be in it.
                    let (store, loaded) = Self::amnesia(storage, fingerprint, names, newest);
                    return Ok((store, loaded));
                };
                wall = Some(WallTime::from_secs(head.wall_secs));
                let same = head.members == fingerprint;
                found = if same {
                    Found::Valid { seq: h.seq, slot }
                } else {
                    Found::OtherFormation { seq: h.seq, slot }
                };
                for s in saved.iter_mut() {
                    if !same {
                        // Indices in it name other members: keep only the term.
                        if let Some(x) = s.as_mut() {
                            *x = Saved::Amnesia { term: term_of(*x) };
                        }
                    }
                    let _ = restores.push(restore_of(*s));
                }
            }
        }
        let store = StateStore {
            storage,
            fingerprint,
            names,
            saved,
            newest: newest.map(|(s, h)| (s, h.seq)),
            writes: 0,
        };
        Ok((
            store,
            Loaded {
                found,
                restores,
                wall,
            },
        ))
    }

    /// Every ticket with amnesia (damage, or a record we cannot read).
    fn amnesia(
        storage: S,
        fingerprint: u32,
        names: Vec<u32, TICKETS>,
        newest: Option<(Slot, Header)>,
    ) -> (Self, Loaded<TICKETS>) {
        let mut saved = Vec::new();
        let mut restores = Vec::new();
        for _ in &names {
            let _ = saved.push(Some(Saved::Amnesia { term: 0 }));
            let _ = restores.push(restore_of(Some(Saved::Amnesia { term: 0 })));
        }
        let store = StateStore {
            storage,
            fingerprint,
            names,
            saved,
            newest: newest.map(|(s, h)| (s, h.seq)),
            writes: 0,
        };
        (
            store,
            Loaded {
                found: Found::Damaged,
                restores,
                wall: None,
            },
        )
    }

    /// Records `state` for `ticket` and writes the whole record to the older
    /// slot. Returns only once the record is complete; on an error nothing
    /// that depends on it may be sent.
    pub fn persist(
        &mut self,
        ticket: usize,
        state: PersistedTicket,
        wall: WallTime,
    ) -> Result<(), StoreError<S::Error>> {
        let slot_saved = self.saved.get_mut(ticket).ok_or(StoreError::NoSuchTicket)?;
        *slot_saved = Some(Saved::Known(state));
        self.write(wall)
    }

    fn write(&mut self, wall: WallTime) -> Result<(), StoreError<S::Error>> {
        let (slot, seq) = match self.newest {
            Some((s, seq)) => (s.other(), seq.wrapping_add(1)),
            None => (Slot::A, 1),
        };
        let count = self.saved.iter().filter(|s| s.is_some()).count();
        let head = RecordHead {
            version: VERSION,
            members: self.fingerprint,
            wall_secs: wall.secs(),
            count: count as u16,
        };
        let have = self.storage.slot_len();
        let mut need = HEADER_LEN + encoded_len(&head);
        for (name, s) in self.names.iter().zip(&self.saved) {
            if let Some(saved) = s {
                need += encoded_len(&Entry {
                    name: *name,
                    saved: *saved,
                });
            }
        }
        if need > have {
            return Err(StoreError::SlotTooSmall { need, have });
        }

        self.storage.erase(slot).map_err(StoreError::Storage)?;
        let mut w = Writer {
            storage: &mut self.storage,
            slot,
            offset: HEADER_LEN,
            crc: crate::crc::Hasher::new(),
        };
        let len = (need - HEADER_LEN) as u32;
        w.crc.update(&seq.to_le_bytes());
        w.crc.update(&len.to_le_bytes());
        w.put(&head)?;
        for (name, s) in self.names.iter().zip(&self.saved) {
            if let Some(saved) = s {
                w.put(&Entry {
                    name: *name,
                    saved: *saved,
                })?;
            }
        }
        let crc = w.crc.finalize();
        // The header last: it commits the record.
        let mut header = [0u8; HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC);
        header[4..8].copy_from_slice(&seq.to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        header[12..16].copy_from_slice(&crc.to_le_bytes());
        self.storage
            .program(slot, 0, &header)
            .map_err(StoreError::Storage)?;
        self.newest = Some((slot, seq));
        self.writes = self.writes.wrapping_add(1);
        Ok(())
    }

    /// Slot and sequence number of the newest record.
    pub fn newest(&self) -> Option<(Slot, u32)> {
        self.newest
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    pub fn into_storage(self) -> S {
        self.storage
    }
}

fn term_of(s: Saved) -> u32 {
    match s {
        Saved::Known(p) => p.term,
        Saved::Amnesia { term } => term,
    }
}

/// `a` is after `b` in wrapping sequence order.
fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

fn encoded_len<T: Serialize>(v: &T) -> usize {
    let mut buf = [0u8; WINDOW];
    postcard::to_slice(v, &mut buf).map_or(WINDOW, |s| s.len())
}

/// Streams postcard encodings into a slot, keeping a running CRC.
struct Writer<'a, S: Storage> {
    storage: &'a mut S,
    slot: Slot,
    offset: usize,
    crc: crate::crc::Hasher,
}

impl<S: Storage> Writer<'_, S> {
    fn put<T: Serialize>(&mut self, v: &T) -> Result<(), StoreError<S::Error>> {
        let mut buf = [0u8; WINDOW];
        let bytes = match postcard::to_slice(v, &mut buf) {
            Ok(b) => b,
            // Heads and entries are far below the window; sized in `write`.
            Err(_) => {
                return Err(StoreError::SlotTooSmall {
                    need: WINDOW,
                    have: WINDOW,
                })
            }
        };
        self.crc.update(bytes);
        self.storage
            .program(self.slot, self.offset, bytes)
            .map_err(StoreError::Storage)?;
        self.offset += bytes.len();
        Ok(())
    }
}

/// Reads a slot's header and checks its CRC.
fn inspect<S: Storage>(storage: &mut S, slot: Slot) -> Result<SlotState, S::Error> {
    let mut hdr = [0u8; HEADER_LEN];
    storage.read(slot, 0, &mut hdr)?;
    if hdr.iter().all(|b| *b == 0xFF) || hdr.iter().all(|b| *b == 0) {
        return Ok(SlotState::Empty);
    }
    let word = |o: usize| u32::from_le_bytes([hdr[o], hdr[o + 1], hdr[o + 2], hdr[o + 3]]);
    let h = Header {
        seq: word(4),
        len: word(8),
        crc: word(12),
    };
    let fits = (h.len as usize)
        .checked_add(HEADER_LEN)
        .is_some_and(|end| end <= storage.slot_len());
    if hdr[0..4] != MAGIC || !fits {
        return Ok(SlotState::Damaged);
    }
    let mut crc = crate::crc::Hasher::new();
    crc.update(&hdr[4..12]);
    let mut off = 0usize;
    let mut chunk = [0u8; WINDOW];
    while off < h.len as usize {
        let n = (h.len as usize - off).min(WINDOW);
        storage.read(slot, HEADER_LEN + off, &mut chunk[..n])?;
        crc.update(&chunk[..n]);
        off += n;
    }
    Ok(if crc.finalize() == h.crc {
        SlotState::Valid(h)
    } else {
        SlotState::Damaged
    })
}

/// Reads up to a window of the body from `off`; returns the bytes read.
fn fill<S: Storage>(
    storage: &mut S,
    slot: Slot,
    off: usize,
    end: usize,
    window: &mut [u8; WINDOW],
) -> Result<usize, S::Error> {
    let n = end.saturating_sub(off).min(WINDOW);
    storage.read(slot, off, &mut window[..n])?;
    Ok(n)
}

/// Decodes a verified body: the head, then each entry whose name is
/// configured. `None` if it does not decode (the CRC matched, so it is a
/// format we do not know).
fn read_body<S: Storage, const T: usize>(
    storage: &mut S,
    slot: Slot,
    h: Header,
    names: &Vec<u32, T>,
    saved: &mut Vec<Option<Saved>, T>,
) -> Result<Option<RecordHead>, S::Error> {
    for _ in names {
        let _ = saved.push(None);
    }
    let end = HEADER_LEN + h.len as usize;
    let mut off = HEADER_LEN;
    let mut window = [0u8; WINDOW];
    let n = fill(storage, slot, off, end, &mut window)?;
    let head: RecordHead = match postcard::take_from_bytes::<RecordHead>(&window[..n]) {
        Ok((head, rest)) if head.version == VERSION => {
            off += n - rest.len();
            head
        }
        _ => return Ok(None),
    };
    for _ in 0..head.count {
        let n = fill(storage, slot, off, end, &mut window)?;
        let Ok((entry, rest)) = postcard::take_from_bytes::<Entry>(&window[..n]) else {
            return Ok(None);
        };
        off += n - rest.len();
        if let Some(i) = names.iter().position(|n| *n == entry.name) {
            saved[i] = Some(entry.saved);
        }
    }
    Ok(Some(head))
}

/// Two slots in RAM: for boards without flash, and for tests.
#[derive(Debug, Clone)]
pub struct RamStorage<const SLOT: usize> {
    slots: [[u8; SLOT]; 2],
}

impl<const SLOT: usize> RamStorage<SLOT> {
    /// Both slots erased.
    pub const fn new() -> Self {
        RamStorage {
            slots: [[0xFF; SLOT]; 2],
        }
    }

    /// The raw bytes of a slot (tests flip bits in them).
    pub fn slot_mut(&mut self, slot: Slot) -> &mut [u8; SLOT] {
        &mut self.slots[slot as usize]
    }
}

impl<const SLOT: usize> Default for RamStorage<SLOT> {
    fn default() -> Self {
        Self::new()
    }
}

/// Out of the slot's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutOfBounds;

impl<const SLOT: usize> Storage for RamStorage<SLOT> {
    type Error = OutOfBounds;
    fn slot_len(&self) -> usize {
        SLOT
    }
    fn read(&mut self, slot: Slot, offset: usize, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = self.slots[slot as usize]
            .get(offset..offset + buf.len())
            .ok_or(OutOfBounds)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn erase(&mut self, slot: Slot) -> Result<(), OutOfBounds> {
        self.slots[slot as usize].fill(0xFF);
        Ok(())
    }
    fn program(&mut self, slot: Slot, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        let dst = self.slots[slot as usize]
            .get_mut(offset..offset + data.len())
            .ok_or(OutOfBounds)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booth_core::{Duration, Member, Role, SiteId, TicketConfig};

    fn config(names: &[&str]) -> Config<4> {
        let mut c = Config::new();
        for (i, role) in [Role::Site, Role::Site, Role::Arbitrator]
            .into_iter()
            .enumerate()
        {
            c.members
                .push(Member {
                    id: SiteId(100 + i as u32),
                    role,
                })
                .unwrap();
        }
        for n in names {
            let t = TicketConfig::new(n).unwrap().with_timing(
                Duration::from_secs(10),
                Duration::from_secs(1),
                3,
            );
            c.tickets.push(t).unwrap();
        }
        c
    }

    fn st(term: u32, voted: Option<u8>) -> PersistedTicket {
        PersistedTicket {
            term,
            voted_for: voted,
            leader: voted,
            lease: voted.is_some(),
            lost: false,
        }
    }

    const WALL: WallTime = WallTime(1_700_000_000_000_000);

    /// Storage that loses power after `budget` more bytes of programming or
    /// erasing (each erased byte counts one): the operation in progress stops
    /// half-done, as on a real chip, and reports an error.
    #[derive(Debug, Clone)]
    struct PowerCut {
        inner: RamStorage<256>,
        budget: Option<usize>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Dead;

    impl PowerCut {
        fn spend(&mut self, n: usize) -> usize {
            match self.budget.as_mut() {
                None => n,
                Some(b) => {
                    let k = n.min(*b);
                    *b -= k;
                    k
                }
            }
        }
    }

    impl Storage for PowerCut {
        type Error = Dead;
        fn slot_len(&self) -> usize {
            256
        }
        fn read(&mut self, slot: Slot, offset: usize, buf: &mut [u8]) -> Result<(), Dead> {
            self.inner.read(slot, offset, buf).map_err(|_| Dead)
        }
        fn erase(&mut self, slot: Slot) -> Result<(), Dead> {
            let k = self.spend(256);
            self.inner.slot_mut(slot)[..k].fill(0xFF);
            if k < 256 {
                return Err(Dead);
            }
            Ok(())
        }
        fn program(&mut self, slot: Slot, offset: usize, data: &[u8]) -> Result<(), Dead> {
            let k = self.spend(data.len());
            self.inner.slot_mut(slot)[offset..offset + k].copy_from_slice(&data[..k]);
            if k < data.len() {
                return Err(Dead);
            }
            Ok(())
        }
    }

    #[test]
    fn first_start_is_fresh_and_a_record_round_trips() {
        let c = config(&["a", "b"]);
        let (mut s, l) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        assert_eq!(l.found, Found::Empty);
        assert_eq!(l.restores.as_slice(), &[Restore::Fresh, Restore::Fresh]);
        assert_eq!(l.wall, None);

        s.persist(1, st(7, Some(0)), WALL).unwrap();
        s.persist(1, st(8, Some(1)), WALL).unwrap();
        let (_, l) = StateStore::open(s.into_storage(), &c, 2).unwrap();
        assert_eq!(
            l.found,
            Found::Valid {
                seq: 2,
                slot: Slot::B
            }
        );
        assert_eq!(
            l.restores.as_slice(),
            &[Restore::Fresh, Restore::Persisted(st(8, Some(1)))]
        );
        assert_eq!(l.wall, Some(WallTime::from_secs(WALL.secs())));
    }

    #[test]
    fn writes_alternate_between_slots() {
        let c = config(&["a"]);
        let (mut s, _) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        for i in 1..=5u32 {
            s.persist(0, st(i, None), WALL).unwrap();
            let want = if i % 2 == 1 { Slot::A } else { Slot::B };
            assert_eq!(s.newest(), Some((want, i)));
        }
    }

    /// Every possible power cut during a write, at every byte: the store
    /// restores either the old or the new state, never anything else, and
    /// never amnesia while an intact older record exists.
    #[test]
    fn a_torn_write_at_any_byte_loses_nothing() {
        let c = config(&["a", "b"]);
        let old = st(5, Some(0));
        let new = st(6, Some(1));
        // A store with two records already (so both slots hold data).
        let (mut s, _) = StateStore::open(
            PowerCut {
                inner: RamStorage::new(),
                budget: None,
            },
            &c,
            2,
        )
        .unwrap();
        s.persist(0, st(4, None), WALL).unwrap();
        s.persist(0, old, WALL).unwrap();
        let before = s.into_storage();

        let mut cuts = 0;
        for budget in 0.. {
            let mut flash = before.clone();
            flash.budget = Some(budget);
            let (mut s, _) = StateStore::open(flash, &c, 2).unwrap();
            let done = s.persist(0, new, WALL).is_ok();
            let mut flash = s.into_storage();
            flash.budget = None;
            let (_, l) = StateStore::open(flash, &c, 2).unwrap();
            let got = l.restores[0];
            if done {
                assert_eq!(got, Restore::Persisted(new), "budget {budget}");
                break;
            }
            cuts += 1;
            assert!(
                got == Restore::Persisted(old) || got == Restore::Persisted(new),
                "budget {budget}: {got:?}"
            );
            assert!(matches!(l.found, Found::Valid { .. }), "budget {budget}");
        }
        // Erase (256) plus the programmed bytes were all tried.
        assert!(cuts > 256, "{cuts}");
    }

    #[test]
    fn a_torn_first_write_is_no_write_or_amnesia_never_fresh_with_damage() {
        let c = config(&["a"]);
        for budget in 0..400 {
            let (mut s, _) = StateStore::open(
                PowerCut {
                    inner: RamStorage::new(),
                    budget: Some(budget),
                },
                &c,
                2,
            )
            .unwrap();
            let done = s.persist(0, st(3, Some(2)), WALL).is_ok();
            let mut flash = s.into_storage();
            flash.budget = None;
            let (_, l) = StateStore::open(flash, &c, 2).unwrap();
            match l.found {
                // Cut before the header: the record never existed, and
                // nothing that depended on it was sent.
                Found::Empty => assert_eq!(l.restores[0], Restore::Fresh),
                Found::Damaged => assert_eq!(l.restores[0], Restore::Amnesia { term: 0 }),
                Found::Valid { .. } => {
                    assert_eq!(l.restores[0], Restore::Persisted(st(3, Some(2))))
                }
                Found::OtherFormation { .. } => panic!("budget {budget}"),
            }
            if done {
                return;
            }
        }
        panic!("the write never completed");
    }

    #[test]
    fn a_flipped_bit_falls_back_to_the_other_slot() {
        let c = config(&["a"]);
        let (mut s, _) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        s.persist(0, st(1, None), WALL).unwrap(); // slot A
        s.persist(0, st(2, None), WALL).unwrap(); // slot B
        let mut flash = s.into_storage();
        flash.slot_mut(Slot::B)[HEADER_LEN + 3] ^= 0x10;
        let (mut s, l) = StateStore::open(flash, &c, 2).unwrap();
        assert_eq!(
            l.found,
            Found::Valid {
                seq: 1,
                slot: Slot::A
            }
        );
        assert_eq!(l.restores[0], Restore::Persisted(st(1, None)));
        // The next write replaces the damaged slot and wins.
        s.persist(0, st(3, None), WALL).unwrap();
        assert_eq!(s.newest(), Some((Slot::B, 2)));
        let (_, l) = StateStore::open(s.into_storage(), &c, 2).unwrap();
        assert_eq!(l.restores[0], Restore::Persisted(st(3, None)));
    }

    #[test]
    fn damage_everywhere_means_amnesia_until_persisted_again() {
        let c = config(&["a", "b"]);
        let (mut s, _) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        s.persist(0, st(9, Some(1)), WALL).unwrap();
        let mut flash = s.into_storage();
        flash.slot_mut(Slot::A)[13] ^= 1; // the CRC itself
        let (mut s, l) = StateStore::open(flash, &c, 2).unwrap();
        assert_eq!(l.found, Found::Damaged);
        assert_eq!(
            l.restores.as_slice(),
            &[Restore::Amnesia { term: 0 }, Restore::Amnesia { term: 0 }]
        );
        // Persisting one ticket keeps the other's amnesia across the next start.
        s.persist(0, st(10, None), WALL).unwrap();
        let (_, l) = StateStore::open(s.into_storage(), &c, 2).unwrap();
        assert_eq!(
            l.restores.as_slice(),
            &[
                Restore::Persisted(st(10, None)),
                Restore::Amnesia { term: 0 }
            ]
        );
    }

    #[test]
    fn tickets_are_found_by_name_and_a_new_member_list_means_amnesia() {
        let c = config(&["a", "b"]);
        let (mut s, _) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        s.persist(0, st(4, Some(0)), WALL).unwrap();
        s.persist(1, st(6, Some(1)), WALL).unwrap();
        let flash = s.into_storage();

        // Reordered, one removed, one added.
        let c2 = config(&["new", "b"]);
        let (_, l) = StateStore::open(flash.clone(), &c2, 2).unwrap();
        assert_eq!(
            l.restores.as_slice(),
            &[Restore::Fresh, Restore::Persisted(st(6, Some(1)))]
        );

        // Another member list: indices are meaningless, terms are kept.
        let mut c3 = config(&["a", "b"]);
        c3.members[1].id = SiteId(999);
        let (_, l) = StateStore::open(flash, &c3, 2).unwrap();
        assert!(matches!(l.found, Found::OtherFormation { .. }));
        assert_eq!(
            l.restores.as_slice(),
            &[Restore::Amnesia { term: 4 }, Restore::Amnesia { term: 6 }]
        );
    }

    #[test]
    fn a_slot_too_small_is_an_error_not_a_torn_record() {
        let c = config(&["a", "b", "c", "d"]);
        let (mut s, _) = StateStore::open(RamStorage::<48>::new(), &c, 2).unwrap();
        for i in 0..4 {
            let r = s.persist(i, st(0x7FFF_FFF0, Some(1)), WALL);
            if i == 0 {
                r.unwrap();
            } else {
                assert!(matches!(r, Err(StoreError::SlotTooSmall { .. })), "{r:?}");
            }
        }
        assert_eq!(
            s.persist(9, st(1, None), WALL),
            Err(StoreError::NoSuchTicket)
        );
    }

    #[test]
    fn an_intact_record_in_an_unknown_format_means_amnesia() {
        let c = config(&["a"]);
        let (mut s, _) = StateStore::open(RamStorage::<256>::new(), &c, 2).unwrap();
        s.persist(0, st(7, Some(1)), WALL).unwrap();
        let mut flash = s.into_storage();
        // A future format version, with a CRC that matches it.
        let slot = flash.slot_mut(Slot::A);
        slot[HEADER_LEN] = 99;
        let len = u32::from_le_bytes([slot[8], slot[9], slot[10], slot[11]]) as usize;
        let mut h = crate::crc::Hasher::new();
        h.update(&slot[4..12]);
        h.update(&slot[HEADER_LEN..HEADER_LEN + len]);
        let crc = h.finalize().to_le_bytes();
        slot[12..16].copy_from_slice(&crc);
        let (mut s, l) = StateStore::open(flash, &c, 2).unwrap();
        assert_eq!(l.found, Found::Damaged);
        assert_eq!(l.restores[0], Restore::Amnesia { term: 0 });
        // The next write goes to the other slot and supersedes it.
        s.persist(0, st(8, None), WALL).unwrap();
        assert_eq!(s.newest(), Some((Slot::B, 2)));
        let (_, l) = StateStore::open(s.into_storage(), &c, 2).unwrap();
        assert_eq!(l.restores[0], Restore::Persisted(st(8, None)));
    }

    #[test]
    fn zeroed_slots_count_as_erased() {
        let c = config(&["a"]);
        let mut flash = RamStorage::<64>::new();
        flash.slot_mut(Slot::A).fill(0);
        flash.slot_mut(Slot::B).fill(0);
        let (_, l) = StateStore::open(flash, &c, 2).unwrap();
        assert_eq!(l.found, Found::Empty);
    }
}
