//! The typed layer of the blocking runtime: what a `service!`'s generated `Client` calls
//! through ([`Client`] is a [`Caller`]), and what its generated `serve` hands to a server
//! ([`Served`] is an [`IntoHandler`] and an [`IntoHandlers`]).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wirecall::{
    Answer, Caller, Config, Dispatch, DispatchError, Procedure, Served, StreamIo, StreamMode,
};
use wirecall::{StreamProcedure, WireError};

use super::engine::Capacity;
use super::remote::RemoteHandle;
use super::session::{ClientError, Handler};
use super::streams::{Request, TypedStream};
use super::Client;

impl Caller for Client {
    type Error = ClientError;
    type Stream<P: StreamProcedure> = TypedStream<P>;
    type Remote = RemoteHandle;

    fn call_export<P: Procedure<Output = wirecall::Handle>>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
        pipelined: bool,
    ) -> Result<RemoteHandle, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        Client::call_export(self, Some(schema), P::ID, &bytes, timeout, pipelined)
    }

    fn call_procedure<P: Procedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call_checked(Some(schema), P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }

    fn open_procedure<P: StreamProcedure>(
        &self,
        schema: u32,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<TypedStream<P>, ClientError> {
        self.open_typed(Some(schema), args, timeout)
    }
}

/// What [`serve_link`](super::serve_link) and [`serve_port`](super::serve_port) serve: a
/// [`Handler`], or a typed service from a `service!`'s `serve(handler)`.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_link, Client, ClientOptions, Handler, IntoHandler, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod calc {
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///     }
/// }
/// struct Calc;
/// impl calc::HostHandler for Calc {
///     fn add(&self, a: i32, b: i32) -> Result<i32, WireError> {
///         Ok(a.wrapping_add(b))
///     }
/// }
///
/// /// Serves `handler` on one end of a socket pair and calls procedure 0 with `args`.
/// fn call_once(handler: impl IntoHandler + Send + 'static, args: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
///     let (here, there) = UnixStream::pair()?;
///     let link = Link::from_unix(there)?;
///     let server = std::thread::spawn(move || serve_link(link, handler, ServeOptions::default()));
///     let answer = Client::over(Link::from_unix(here)?, ClientOptions::default())?.call(0, args, None)?;
///     server.join().expect("the server ran");
///     Ok(answer)
/// }
///
/// // A closure, a boxed handler of any type, or a `dyn Handler`...
/// let echo = |_: u32, args: &[u8]| Ok::<_, (WireError, String)>(args.to_vec());
/// assert_eq!(call_once(Box::new(echo), b"hi")?, b"hi");
/// let boxed: Box<dyn Handler> = Box::new(echo);
/// assert_eq!(call_once(boxed, b"dyn")?, b"dyn");
/// // ...or a typed service, which also serves its manifest.
/// let args = postcard::to_allocvec(&(40, 2))?;
/// assert_eq!(call_once(calc::serve(Calc), &args)?, postcard::to_allocvec(&42)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoHandler {
    /// The handler, and the settings it needs (a typed service adds its manifest to
    /// `config`).
    fn into_handler(self, config: &mut Config, capacity: &Capacity) -> Box<dyn Handler>;
}

impl IntoHandler for Box<dyn Handler> {
    fn into_handler(self, _: &mut Config, _: &Capacity) -> Box<dyn Handler> {
        self
    }
}

impl<H: Handler + 'static> IntoHandler for Box<H> {
    fn into_handler(self, _: &mut Config, _: &Capacity) -> Box<dyn Handler> {
        self
    }
}

impl<D: Dispatch> IntoHandler for Served<D> {
    fn into_handler(self, config: &mut Config, capacity: &Capacity) -> Box<dyn Handler> {
        Box::new(TypedHandler::new(Arc::new(self.0), config, capacity))
    }
}

/// What [`serve_tcp`](super::serve_tcp) and [`serve_unix`](super::serve_unix) serve: a
/// factory called once per connection (`|| -> Box<dyn Handler>`), or a typed service from a
/// `service!`'s `serve(handler)`, whose one handler every connection shares.
///
/// ```
/// use std::net::TcpListener;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use wirecall::WireError;
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
///
/// // A factory: a new handler for each connection, here numbered in order.
/// let connections = Arc::new(AtomicU32::new(0));
/// let count = connections.clone();
/// let factory = move || {
///     let n = count.fetch_add(1, Ordering::SeqCst) as u8;
///     Box::new(move |_: u32, _: &[u8]| Ok::<_, (WireError, String)>(vec![n]))
/// };
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, factory, ServeOptions::default())?;
/// let a = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(a.call(0, &[], None)?, [0]);
/// let b = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
/// assert_eq!(b.call(0, &[], None)?, [1]);
/// assert_eq!(connections.load(Ordering::SeqCst), 2);
/// drop((a, b));
/// server.stop();
///
/// // A typed service: one handler (`&self`, any thread) for every connection.
/// wirecall::service! {
///     pub mod counter {
///         0 => Next: fn next() -> u32;
///     }
/// }
/// #[derive(Default)]
/// struct Counter(AtomicU32);
/// impl counter::HostHandler for Counter {
///     fn next(&self) -> Result<u32, WireError> {
///         Ok(self.0.fetch_add(1, Ordering::SeqCst))
///     }
/// }
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, counter::serve(Counter::default()), ServeOptions::default())?;
/// let connect = || Client::connect(move || Link::tcp(addr), ClientOptions::default()).map(counter::Client::new);
/// let (a, b) = (connect()?, connect()?);
/// assert_eq!((a.next()?, b.next()?, a.next()?), (0, 1, 2)); // one count
/// drop((a, b));
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait IntoHandlers {
    /// The factory, and the settings its handlers need (a typed service adds its manifest
    /// to `config`).
    fn into_handlers(self, config: &mut Config, capacity: &Capacity) -> HandlerFactory;
}

/// Makes the handler of one more connection.
pub type HandlerFactory = Box<dyn Fn() -> Box<dyn Handler> + Send>;

/// A closure may return `Box<dyn Handler>` or a box of any one handler type.
impl<F, H> IntoHandlers for F
where
    F: Fn() -> Box<H> + Send + 'static,
    H: ?Sized,
    Box<H>: IntoHandler,
{
    fn into_handlers(self, _: &mut Config, _: &Capacity) -> HandlerFactory {
        Box::new(move || self().into_handler(&mut Config::default(), &Capacity::default()))
    }
}

impl<D: Dispatch> IntoHandlers for Served<D> {
    fn into_handlers(self, config: &mut Config, capacity: &Capacity) -> HandlerFactory {
        let handler = Arc::new(TypedHandler::new(Arc::new(self.0), config, capacity));
        Box::new(move || Box::new(handler.clone()))
    }
}

/// A typed service as a byte-level [`Handler`]: decodes, runs the typed handler, encodes.
pub(crate) struct TypedHandler<D> {
    service: Arc<D>,
    /// The longest result buffer: a frame.
    max_frame: usize,
}

impl<D: Dispatch> TypedHandler<D> {
    /// Serves `service`, whose manifest `config` now serves.
    pub(crate) fn new(service: Arc<D>, config: &mut Config, capacity: &Capacity) -> Self {
        *config = config.with_manifest(service.manifest());
        TypedHandler {
            max_frame: capacity.max_frame,
            service,
        }
    }

    /// Serves a request; a new object to export goes to `export`.
    fn answer(
        &self,
        procedure: u32,
        mode: StreamMode,
        args: &[u8],
        io: &mut impl StreamIo,
        export: &mut Option<(Arc<dyn Any + Send + Sync>, u8)>,
    ) -> Result<Vec<u8>, (WireError, String)> {
        // The longest result the procedure's declared type allows (5 bytes for an `i32`),
        // at most a frame.
        let reply_len = self.service.max_reply_len(procedure).min(self.max_frame);
        let mut out = vec![0u8; reply_len];
        match self.service.serve(procedure, mode, args, io, &mut out) {
            Ok(Answer::Reply(n)) => {
                out.truncate(n);
                Ok(out)
            }
            Ok(Answer::Export { interface, object }) => {
                *export = Some((Arc::new(object), interface));
                Ok(Vec::new())
            }
            Err(e) => Err((e.code(), self.detail(e, procedure, reply_len))),
        }
    }

    /// Serves a call of `method` on `object`, an object this service exported.
    fn invoke(
        &self,
        object: &(dyn Any + Send + Sync),
        interface: u8,
        method: u32,
        args: &[u8],
    ) -> Result<Vec<u8>, (WireError, String)> {
        let Some(object) = object.downcast_ref::<D::Object>() else {
            return Err((
                WireError::StaleHandle,
                "not an object of this service".into(),
            ));
        };
        // The longest result the method's declared type allows, at most a frame.
        let reply_len = self
            .service
            .max_invoke_len(interface, method)
            .min(self.max_frame);
        let mut out = vec![0u8; reply_len];
        match self.service.invoke(object, method, args, &mut out) {
            Ok(n) => {
                out.truncate(n);
                Ok(out)
            }
            Err(e) => {
                let name = self.service.interface_name(interface);
                let detail = match e {
                    DispatchError::UnknownProcedure => {
                        format!("interface {name} has no method {method}")
                    }
                    DispatchError::BadArguments => {
                        format!("the arguments do not fit method {method} of {name}")
                    }
                    _ => String::new(),
                };
                Err((e.code(), detail))
            }
        }
    }

    /// What the caller got wrong, in words (empty for the handler's own errors).
    fn detail(&self, e: DispatchError, procedure: u32, reply_len: usize) -> String {
        let procedures = self.service.procedures();
        let Some(p) = procedures.iter().find(|p| p.id == procedure) else {
            let names: Vec<_> = procedures
                .iter()
                .map(|p| format!("{} = {}", p.id, p.name))
                .collect();
            return format!(
                "no procedure {procedure}; this service has {}",
                names.join(", ")
            );
        };
        match e {
            DispatchError::BadArguments => format!("{} expects ({})", p.name, p.params),
            DispatchError::WrongMode {
                declared: StreamMode::Call,
            } => format!("{} is not a stream: call it", p.name),
            DispatchError::WrongMode { declared } => {
                format!("{} is a {}: open it as one", p.name, mode_name(declared))
            }
            DispatchError::Encode(WireError::TooLarge) => format!(
                "the result of {} does not fit in {} bytes",
                p.name, reply_len
            ),
            _ => String::new(),
        }
    }
}

impl<D: Dispatch> Handler for TypedHandler<D> {
    fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        let mut export = None;
        let answer = self.answer(
            procedure,
            StreamMode::Call,
            args,
            &mut NoStream,
            &mut export,
        );
        if export.is_some() {
            // Without a `Request` (the tokio flavour's server) there is nowhere to keep the
            // object: say so rather than answer without the handle.
            return Err((
                WireError::Internal,
                "this server does not export objects: serve handles with the blocking runtime"
                    .into(),
            ));
        }
        answer
    }

    fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        let (procedure, mode, args) = (request.procedure(), request.mode(), request.args_ref());
        if let Some((object, interface)) = request.target() {
            return self.invoke(object, interface, procedure, args);
        }
        if self.service.returns_handle(procedure) {
            request.export_room()?;
        }
        let mut export = None;
        let answer = self.answer(procedure, mode, args, request, &mut export);
        if let Some((object, interface)) = export {
            request.export(object, interface);
        }
        answer
    }

    fn exports(&self) -> bool {
        true
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn handle(&self, procedure: u32, args: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
        (**self).handle(procedure, args)
    }

    fn serve(&self, request: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
        (**self).serve(request)
    }

    fn exports(&self) -> bool {
        (**self).exports()
    }
}

/// A stream's items as a typed handler moves them: encoded and decoded here.
impl StreamIo for Request<'_> {
    fn send_item<T: Serialize>(&mut self, item: &T) -> Result<(), WireError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| WireError::TooLarge)?;
        self.send(&bytes).map_err(item_error)
    }

    fn feed_item<T: Serialize>(&mut self, item: &T) -> Result<(), WireError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| WireError::TooLarge)?;
        self.feed(&bytes).map_err(item_error)
    }

    fn flush_items(&mut self) {
        self.flush();
    }

    fn recv_item<T: DeserializeOwned>(&mut self) -> Option<Result<T, WireError>> {
        Some(match self.recv()? {
            Ok(bytes) => wirecall::decode_exact(&bytes).map_err(|_| WireError::BadArguments),
            Err(_) => Err(WireError::Cancelled),
        })
    }
}

fn mode_name(mode: StreamMode) -> &'static str {
    match mode {
        StreamMode::ServerStream => "server stream",
        StreamMode::ClientStream => "client stream",
        StreamMode::Bidi => "bidirectional stream",
        _ => "plain call",
    }
}

fn item_error(e: ClientError) -> WireError {
    match e {
        ClientError::TooLarge => WireError::TooLarge,
        // The stream is over (cancelled, expired, its link gone): nobody reads on.
        _ => WireError::Cancelled,
    }
}

/// The items of a plain call: there are none.
struct NoStream;

impl StreamIo for NoStream {
    fn send_item<T: Serialize>(&mut self, _: &T) -> Result<(), WireError> {
        Err(WireError::BadArguments)
    }

    fn feed_item<T: Serialize>(&mut self, _: &T) -> Result<(), WireError> {
        Err(WireError::BadArguments)
    }

    fn flush_items(&mut self) {}

    fn recv_item<T: DeserializeOwned>(&mut self) -> Option<Result<T, WireError>> {
        None
    }
}
