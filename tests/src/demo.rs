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
        /// Opens a channel of the simulated sensor by name: a handle, whose methods read
        /// and configure it. Dropping the handle releases it.
        6 => OpenChannel: fn open(name: heapless::String<16>) -> handle Channel;
        /// A channel of the simulated sensor: a counter times a scale.
        interface Channel {
            /// The next reading: the channel's counter (from 1), times its scale.
            0 => Read: fn read() -> i32;
            /// Sets the scale; returns the previous one (initially 1). A scale of 0 is
            /// refused with `BadArguments`.
            1 => Configure: fn configure(scale: i32) -> i32;
            /// The name the channel was opened with.
            2 => Name: fn name() -> heapless::String<16>;
        }
    }
}

/// A channel of the simulated sensor, as [`DemoDevice`] and [`DemoHost`] keep it.
#[derive(Debug, Default)]
pub struct SensorChannel {
    /// The name it was opened with.
    pub name: heapless::String<16>,
    /// Readings taken so far.
    pub reads: std::sync::atomic::AtomicI32,
    /// What each reading is multiplied by.
    pub scale: std::sync::atomic::AtomicI32,
}

impl SensorChannel {
    /// A new channel named `name`, scale 1.
    pub fn new(name: heapless::String<16>) -> Self {
        SensorChannel {
            name,
            reads: 0.into(),
            scale: 1.into(),
        }
    }

    fn read(&self) -> Result<i32, WireError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.reads.fetch_add(1, SeqCst).wrapping_add(1);
        Ok(n.wrapping_mul(self.scale.load(SeqCst)))
    }

    fn configure(&self, scale: i32) -> Result<i32, WireError> {
        if scale == 0 {
            return Err(WireError::BadArguments);
        }
        Ok(self.scale.swap(scale, std::sync::atomic::Ordering::SeqCst))
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
    /// Open channels, by slot of the export table (`Event::Released` clears one).
    pub channels: Vec<Option<SensorChannel>>,
}

impl DemoDevice {
    fn channel(&self, this: wirecall::Handle) -> Result<&SensorChannel, WireError> {
        self.channels
            .get(this.slot())
            .and_then(Option::as_ref)
            .ok_or(WireError::StaleHandle)
    }
}

impl demo::Channel::Handler for DemoDevice {
    fn read(&mut self, this: wirecall::Handle) -> Result<i32, WireError> {
        self.served += 1;
        self.channel(this)?.read()
    }
    fn configure(&mut self, this: wirecall::Handle, scale: i32) -> Result<i32, WireError> {
        self.served += 1;
        self.channel(this)?.configure(scale)
    }
    fn name(&mut self, this: wirecall::Handle) -> Result<heapless::String<16>, WireError> {
        self.served += 1;
        Ok(self.channel(this)?.name.clone())
    }
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
    fn open(
        &mut self,
        this: wirecall::Handle,
        name: heapless::String<16>,
    ) -> Result<(), WireError> {
        self.served += 1;
        if self.channels.len() <= this.slot() {
            self.channels.resize_with(this.slot() + 1, || None);
        }
        self.channels[this.slot()] = Some(SensorChannel::new(name));
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
    type Channel = SensorChannel;

    fn open(&self, name: heapless::String<16>) -> Result<SensorChannel, WireError> {
        Ok(SensorChannel::new(name))
    }
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

impl demo::Channel::HostMethods for SensorChannel {
    fn read(&self) -> Result<i32, WireError> {
        SensorChannel::read(self)
    }
    fn configure(&self, scale: i32) -> Result<i32, WireError> {
        SensorChannel::configure(self, scale)
    }
    fn name(&self) -> Result<heapless::String<16>, WireError> {
        Ok(self.name.clone())
    }
}
