//! booth's four-character codes: commands, results and reasons.
//!
//! Each value is `(c0<<24)|(c1<<16)|(c2<<8)|c3`, so the wire bytes read as text.

const fn cc(s: &[u8; 4]) -> u32 {
    ((s[0] as u32) << 24) | ((s[1] as u32) << 16) | ((s[2] as u32) << 8) | s[3] as u32
}

macro_rules! fourcc_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $val:expr,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(u32)]
        pub enum $name { $($(#[$vm])* $v = $val,)* }

        impl $name {
            /// The code for a raw wire value, if booth defines it.
            pub const fn from_u32(v: u32) -> Option<Self> {
                $(if v == $val { return Some($name::$v); })*
                None
            }
            pub const fn as_u32(self) -> u32 {
                self as u32
            }
        }
    };
}

fourcc_enum! {
    /// `cmd` (and `request`) values (booth-protocol.md §2.5).
    Command {
        List = cc(b"CLst"),
        Grant = cc(b"CGnt"),
        Revoke = cc(b"CRvk"),
        Peers = cc(b"Peer"),
        ClResult = cc(b"Rslt"),
        ClList = cc(b"RLst"),
        ClGrant = cc(b"RGnt"),
        ClRevoke = cc(b"RRvk"),
        Status = cc(b"Stat"),
        MyIndex = cc(b"MIdx"),
        ReqVote = cc(b"RVot"),
        VoteFor = cc(b"VtFr"),
        Heartbeat = cc(b"HrtB"),
        Ack = cc(b"Ack."),
        Update = cc(b"UpdE"),
        Revoked = cc(b"Revk"),
        Rejected = cc(b"RJC!"),
        AttrSet = cc(b"ASet"),
        AttrGet = cc(b"AGet"),
        AttrDel = cc(b"ADel"),
        AttrList = cc(b"ALst"),
    }
}

fourcc_enum! {
    /// `result` values (§2.6).
    ResultCode {
        Success = 0,
        Async = cc(b"Asyn"),
        More = cc(b"More"),
        SyncSucc = cc(b"Sccs"),
        SyncFail = cc(b"Fail"),
        InvalidArg = cc(b"IArg"),
        NoSuchAttr = cc(b"NAtr"),
        CibPending = cc(b"Pend"),
        ExtFailed = cc(b"XPrg"),
        AttrPrereq = cc(b"APrq"),
        TicketIdle = cc(b"Tidl"),
        Overgrant = cc(b"Over"),
        ProbablySuccess = cc(b"Suc?"),
        Busy = cc(b"Busy"),
        Auth = cc(b"Auth"),
        TermOutdated = cc(b"TOdt"),
        TermStillValid = cc(b"TVld"),
        YouOutdated = cc(b"Outd"),
        Redirect = cc(b"Redr"),
    }
}

fourcc_enum! {
    /// `reason` values (§2.7).
    Reason {
        JustSo = 0,
        Again = cc(b"Aaaa"),
        TicketLost = cc(b"TLst"),
        Reacquire = cc(b"Racq"),
        Admin = cc(b"Admn"),
        LocalFail = cc(b"LocF"),
        StepDown = cc(b"Spdn"),
        Split = cc(b"Splt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_text() {
        assert_eq!(Command::Heartbeat.as_u32(), 0x4872_7442);
        assert_eq!(Command::Ack.as_u32(), 0x4163_6B2E);
        assert_eq!(Command::Rejected.as_u32(), 0x524A_4321);
        assert_eq!(ResultCode::ProbablySuccess.as_u32(), 0x5375_633F);
        assert_eq!(Reason::LocalFail.as_u32(), 0x4C6F_6346);
        assert_eq!(Command::from_u32(0x5570_6445), Some(Command::Update));
        assert_eq!(Command::from_u32(0x1234_5678), None);
        assert_eq!(ResultCode::from_u32(0), Some(ResultCode::Success));
    }
}
