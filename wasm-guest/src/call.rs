//! Blocking calls from the guest to its host, and the wait between turns of the loop.

use wirecall::{CallError, CallFailure, DecodeError, Event, Open, Procedure, WireError};
use wirecall_adapters::uart::UartDriver;

use crate::channel::{Channel, Closed, GuestClock};
use crate::sys;

/// Why [`call`] has no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFailed {
    /// The endpoint refused to start it (not connected yet, no free slot, too large...).
    NotSent(CallError),
    /// It ended without a result: the host's error, the deadline, the link lost.
    Failed(CallFailure),
    /// The host's result does not decode as the procedure's output.
    Decode(DecodeError),
    /// The link to the host closed: the guest should return from `wirecall_main`.
    Closed,
}

/// The detail of the `Busy` that [`call`] answers requests with while it waits.
pub const BUSY_DETAIL: &str = "the guest is waiting for a call of its own";

/// Calls `P` on the host and drives the endpoint until its outcome: a blocking typed call,
/// as firmware makes one from its main loop. `how` is [`Open::call()`] for a plain call
/// (with `.with_timeout(..)` for a deadline other than the endpoint's default) or
/// `Open::call().nested_in(request)` for a call made on behalf of a request being served
/// (a callback: a bridge sends it to the caller of that request).
///
/// While it waits the guest serves nothing: a request that arrives meanwhile is answered
/// `Busy` with [`BUSY_DETAIL`] at once (never queued), and other events (items or credit
/// of streams the guest serves, ends of its requests) are dropped, so a guest that serves
/// streams should not call while one is open. The endpoint's own work (keepalive, other
/// deadlines) goes on.
pub fn call<P, const F: usize, const I: usize, const O: usize, const T: usize>(
    driver: &mut UartDriver<Channel, GuestClock, F, I, O, T>,
    args: &P::Args<'_>,
    how: Open,
) -> Result<P::Output, CallFailed>
where
    P: Procedure,
{
    let now = driver.now();
    let id = driver
        .endpoint()
        .open(now, P::ID, P::args(args), how)
        .map_err(CallFailed::NotSent)?;
    loop {
        driver.poll().map_err(|_| CallFailed::Closed)?;
        let ep = driver.endpoint();
        while let Some(event) = ep.poll_event() {
            match event {
                Event::Reply { id: call, payload } if call == id => {
                    return P::output(payload).map_err(CallFailed::Decode);
                }
                Event::CallFailed {
                    id: call, reason, ..
                } if call == id => return Err(CallFailed::Failed(reason)),
                Event::Request { id: request, .. } => {
                    // Room for the answer is made by `poll` above; a full queue leaves the
                    // request to its deadline, as the endpoint would.
                    let _ = ep.respond_error(request, WireError::Busy, BUSY_DETAIL);
                }
                _ => {}
            }
        }
        idle(driver).map_err(|_| CallFailed::Closed)?;
    }
}

/// Longest single wait of [`idle`]: the guest looks at its loop at least this often.
const MAX_WAIT_MS: u64 = 1000;

/// Waits, if the driver has nothing to do, until input arrives or the endpoint's next
/// deadline (at most a second): the guest's `WFI`. Returns at once when bytes are buffered
/// either way. Waiting re-arms the runner's CPU budget; a guest that computes between
/// calls to it (or to anything that reads) for longer than the budget is stopped.
pub fn idle<const F: usize, const I: usize, const O: usize, const T: usize>(
    driver: &mut UartDriver<Channel, GuestClock, F, I, O, T>,
) -> Result<(), Closed> {
    if !driver.is_idle() {
        return Ok(());
    }
    let now = sys::now_ms();
    let wait = driver
        .next_deadline_micros()
        .map_or(MAX_WAIT_MS, |t| t.div_ceil(1000).saturating_sub(now))
        .min(MAX_WAIT_MS);
    match sys::read(&mut [], wait as u32) {
        sys::Input::Closed => Err(Closed),
        _ => Ok(()),
    }
}
