//! Semihosting file calls: the host's file system as seen by QEMU
//! (`-semihosting-config enable=on,target=native`), relative to QEMU's
//! working directory. Used as the non-volatile medium behind the state region.

use cortex_m_semihosting::nr;

/// A host file handle.
#[derive(Debug)]
pub struct File(usize);

/// `mode` is one of `nr::open::*`; `path` must end with a NUL byte.
pub fn open(path: &[u8], mode: usize) -> Option<File> {
    if path.last() != Some(&0) {
        return None;
    }
    let args = [path.as_ptr() as usize, mode, path.len() - 1];
    // SAFETY: SYS_OPEN with a NUL-terminated path, its length without the
    // NUL and a valid mode; the host only reads the path during the call.
    let h = unsafe { cortex_m_semihosting::syscall(nr::OPEN, &args) };
    (h as isize != -1).then_some(File(h))
}

impl File {
    /// Reads into `buf` from the current position; the bytes read.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let args = [self.0, buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: SYS_READ writes at most `buf.len()` bytes into `buf`,
        // which is exclusively borrowed for the call.
        let not_read = unsafe { cortex_m_semihosting::syscall(nr::READ, &args) };
        buf.len().saturating_sub(not_read)
    }

    /// Writes all of `data` at the current position.
    pub fn write(&mut self, data: &[u8]) -> bool {
        let args = [self.0, data.as_ptr() as usize, data.len()];
        // SAFETY: SYS_WRITE only reads `data.len()` bytes from `data`.
        let not_written = unsafe { cortex_m_semihosting::syscall(nr::WRITE, &args) };
        not_written == 0
    }

    /// Moves to absolute position `pos`.
    pub fn seek(&mut self, pos: usize) -> bool {
        let args = [self.0, pos];
        // SAFETY: SYS_SEEK on an open handle.
        let r = unsafe { cortex_m_semihosting::syscall(nr::SEEK, &args) };
        r == 0
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let args = [self.0];
        // SAFETY: SYS_CLOSE on a handle we own, closed exactly once.
        unsafe {
            cortex_m_semihosting::syscall(nr::CLOSE, &args);
        }
    }
}
