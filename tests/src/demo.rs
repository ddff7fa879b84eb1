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

/// The demo service as a host [`Handler`](wirecall_adapters::host::Handler): the generated
/// glue around [`DemoHost`] (which adds detail texts that help a caller: what was wrong,
/// and what is there). It keeps no state between calls, so requests run concurrently;
/// `count` streams its items as the caller's credit allows.
pub fn host_handler() -> Box<dyn wirecall_adapters::host::Handler> {
    use wirecall_adapters::host::{Capacity, IntoHandler};
    // The server's own config decides what it serves; this one is only for the handler.
    demo::serve(DemoHost).into_handler(&mut wirecall::Config::default(), &Capacity::default())
}

/// The demo service on a host: [`demo::HostHandler`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoHost;

impl demo::HostHandler for DemoHost {
    fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
        a.checked_add(b).ok_or(WireError::BadArguments)
    }
    fn echo(&self, data: heapless::Vec<u8, 200>) -> Result<heapless::Vec<u8, 200>, WireError> {
        Ok(data)
    }
    fn fail(&self) -> Result<(), WireError> {
        Err(WireError::Internal)
    }
    fn huge(&self) -> Result<heapless::Vec<u8, 1024>, WireError> {
        demo::Handler::huge(&mut DemoDevice::default())
    }
    fn sleep(&self, ms: u32) -> Result<(), WireError> {
        demo::Handler::sleep(&mut DemoDevice::default(), ms)
    }
    fn count(
        &self,
        stream: &mut dyn wirecall::StreamItems<(), u32>,
        n: u32,
    ) -> Result<(), WireError> {
        for i in 0..n {
            // Fed, not sent: a fast producer's items share writes. Err: the caller
            // cancelled, or the stream or link ended: stop.
            stream.feed(&i)?;
        }
        Ok(())
    }
}
