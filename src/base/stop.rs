//! Stopping a deploy on SIGTERM or SIGINT (a cancelled workflow run, `docker
//! stop`, Ctrl-C): the signal is recorded instead of ending the process, so
//! that the deploy can stop helm (SIGTERM to its process group, SIGKILL
//! after [`STOP_GRACE`] or at a second signal), remove the decrypted values
//! and only then exit, with 128 + the signal's number.
//!
//! Without a handler, a container action's entrypoint runs as PID 1, which
//! the kernel does not end on SIGTERM at all, and a host process would die
//! leaving helm running and the plaintext on disk.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::base::error::{signal_name, Error};

/// How long helm gets to stop after SIGTERM before it is killed. The runner
/// allows a cancelled step about 10 s between its first signal and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The first signal received (0: none).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// Signals received so far.
static COUNT: AtomicUsize = AtomicUsize::new(0);

#[cfg(unix)]
extern "C" fn record(signal: libc::c_int) {
    // Only atomics here: a signal handler may do nothing else safely.
    let _ = FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Records SIGTERM and SIGINT from now on instead of dying of them. Installing twice is harmless.
pub fn install() -> Result<(), Error> {
    #[cfg(unix)]
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed `sigaction` is a valid value; the handler only touches atomics.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(Error::Runner(format!(
                "cannot handle {}: {}",
                signal_name(signal),
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// The first SIGTERM or SIGINT received since [`install`], if any.
pub fn received() -> Option<i32> {
    Some(FIRST.load(Ordering::SeqCst)).filter(|signal| *signal != 0)
}

/// How many signals have been received.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// Sends `signal` to the process group `group` (a child started as the
/// leader of its own group), so that what it started gets it too.
#[cfg(unix)]
pub fn signal_group(group: u32, signal: i32) {
    if let Ok(group) = libc::pid_t::try_from(group) {
        // SAFETY: kill has no memory-safety preconditions; a group that is gone is ESRCH, ignored.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGINT), "SIGINT");
        assert_eq!(signal_name(99), "signal 99");
    }
}
