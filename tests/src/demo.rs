//! The demo service: small procedures that exercise every path.

use wirecall::WireError;

wirecall::service! {
    /// The service the test device serves.
    pub mod demo {
        /// `a + b`; `BadArguments` on overflow.
        0 => Add: fn add(a: i32, b: i32) -> i32;
        /// Returns its bytes.
        1 => Echo: fn echo(data: heapless::Vec<u8, 200>) -> heapless::Vec<u8, 200>;
        /// Always fails with `Internal`.
        2 => Fail: fn fail() -> ();
        /// Returns a result larger than any frame.
        3 => Huge: fn huge() -> heapless::Vec<u8, 1024>;
        /// Blocks the serving thread for `ms` milliseconds (at most 10 s), then returns: for
        /// showing deadlines, cancellation and link loss mid-call.
        4 => Sleep: fn sleep(ms: u32) -> ();
        /// Yields `0..n`, as fast as the caller's credit allows (a server stream).
        5 => Count: fn count(n: u32) -> stream u32;
    }
}

/// A handler for [`demo`].
#[derive(Debug, Default)]
pub struct DemoDevice {
    /// Calls served.
    pub served: u32,
    /// `count` streams accepted and not yet taken by the driver that sends their items:
    /// (stream, n).
    pub counts: Vec<(wirecall::RequestId, u32)>,
}

impl demo::Handler for DemoDevice {
    fn add(&mut self, a: i32, b: i32) -> Result<i32, WireError> {
        self.served += 1;
        a.checked_add(b).ok_or(WireError::BadArguments)
    }
    fn echo(&mut self, data: heapless::Vec<u8, 200>) -> Result<heapless::Vec<u8, 200>, WireError> {
        self.served += 1;
        Ok(data)
    }
    fn fail(&mut self) -> Result<(), WireError> {
        self.served += 1;
        Err(WireError::Internal)
    }
    fn sleep(&mut self, ms: u32) -> Result<(), WireError> {
        self.served += 1;
        std::thread::sleep(std::time::Duration::from_millis(u64::from(ms.min(10_000))));
        Ok(())
    }
    fn count(&mut self, stream: wirecall::RequestId, n: u32) -> Result<(), WireError> {
        self.served += 1;
        self.counts.push((stream, n));
        Ok(())
    }
    fn huge(&mut self) -> Result<heapless::Vec<u8, 1024>, WireError> {
        self.served += 1;
        let mut v = heapless::Vec::new();
        v.resize(1024, 0xab).map_err(|_| WireError::Internal)?;
        Ok(v)
    }
}

/// The demo service as a host [`Handler`](wirecall_adapters::host::Handler), with detail
/// texts that help a caller: what was wrong, and what is there. It keeps no state between
/// calls, so requests run concurrently; `count` streams its items as the caller's credit
/// allows.
pub fn host_handler() -> Box<dyn wirecall_adapters::host::Handler> {
    Box::new(DemoHost)
}

/// See [`host_handler`].
pub struct DemoHost;

impl wirecall_adapters::host::Handler for DemoHost {
    fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        let mut device = DemoDevice::default();
        let mut out = vec![0u8; 4096];
        match demo::dispatch(&mut device, procedure, args, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(e) => Err((e, detail(e, procedure))),
        }
    }

    fn serve(
        &self,
        r: &mut wirecall_adapters::host::Request<'_>,
    ) -> Result<Vec<u8>, (WireError, String)> {
        use wirecall::{Procedure, StreamMode};
        let (procedure, mode) = (r.procedure(), r.mode());
        match (procedure == demo::Count::ID, mode) {
            (false, StreamMode::Call) => self.handle(procedure, r.args()),
            (true, StreamMode::ServerStream) => {
                let (n,): (u32,) = wirecall::decode_exact(r.args()).map_err(|_| {
                    (
                        WireError::BadArguments,
                        detail(WireError::BadArguments, procedure),
                    )
                })?;
                for i in 0..n {
                    // Err: the caller cancelled, or the stream or link ended: stop.
                    r.feed_typed::<demo::Count>(&i)
                        .map_err(|e| (WireError::Cancelled, e.to_string()))?;
                }
                Ok(Vec::new())
            }
            (true, _) => Err((
                WireError::BadArguments,
                "count is a server stream: open it as one".into(),
            )),
            (false, _) => Err((
                WireError::BadArguments,
                format!("procedure {procedure} is not a stream"),
            )),
        }
    }
}

fn detail(e: WireError, procedure: u32) -> String {
    let info = demo::PROCEDURES.iter().find(|p| p.id == procedure);
    match (e, info) {
        (WireError::UnknownProcedure, _) => {
            let names: Vec<_> = demo::PROCEDURES
                .iter()
                .map(|p| format!("{} = {}", p.id, p.name))
                .collect();
            format!(
                "no procedure {procedure}; this service has {}",
                names.join(", ")
            )
        }
        (WireError::BadArguments, Some(p)) => format!("{} expects ({})", p.name, p.params),
        _ => String::new(),
    }
}
