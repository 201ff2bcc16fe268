//! Local-time stamps as booth prints them (`strftime("%F %T", localtime())`).

use std::ffi::CStr;

/// `YYYY-MM-DD HH:MM:SS` in the local time zone for an epoch second.
pub fn format(secs: i64) -> String {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads one time_t and fills the caller's tm; it is
    // the reentrant variant, safe with other threads.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return format!("@{secs}");
    }
    let mut buf = [0u8; 64];
    // SAFETY: strftime writes at most buf.len() bytes (NUL included) into
    // buf, the format is a NUL-terminated literal and tm was filled above.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%F %T".as_ptr(), &tm) };
    if n == 0 {
        return format!("@{secs}");
    }
    CStr::from_bytes_until_nul(&buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("@{secs}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape_is_date_space_time() {
        let s = super::format(1_795_594_217);
        assert_eq!(s.len(), 19, "{s}");
        let b = s.as_bytes();
        assert_eq!(
            (b[4], b[7], b[10], b[13], b[16]),
            (b'-', b'-', b' ', b':', b':')
        );
        assert!(s.starts_with("2026-11-"), "{s}");
    }
}
