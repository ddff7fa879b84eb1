//! [`service!`](crate::service): a service declared once, for both sides and every runtime.

/// Declares a service: procedure numbers, names and types, once, for both sides.
///
/// ```
/// wirecall::service! {
///     /// A small calculator.
///     pub mod calc {
///         /// Adds two numbers.
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///         /// Says how many bytes it got.
///         1 => Count: fn count(data: heapless::Vec<u8, 32>) -> u32;
///         /// Yields `0..n` (a server stream: many items, then the end).
///         2 => Upto: fn upto(n: u32) -> stream u32;
///         /// Adds up the numbers it is sent (a client stream: many items in, one reply).
///         3 => Sum: fn sum(stream u32) -> u64;
///         /// Sends back each number doubled (bidirectional).
///         4 => Double: fn double(stream u32) -> stream u32;
///         /// Starts over (a result of `()` needs no `-> ()`).
///         5 => Reset: fn reset();
///         /// Counts the characters of a text (borrowed from the request: no copy).
///         6 => Chars: fn chars(text: &str) -> u32;
///     }
/// }
///
/// struct Calc { upto: Option<(wirecall::RequestId, u32)> }
/// impl calc::Handler for Calc {
///     fn add(&mut self, a: i32, b: i32) -> Result<i32, wirecall::WireError> {
///         a.checked_add(b).ok_or(wirecall::WireError::BadArguments)
///     }
///     fn count(&mut self, data: heapless::Vec<u8, 32>) -> Result<u32, wirecall::WireError> {
///         Ok(data.len() as u32)
///     }
///     // A stream is accepted here; its items are sent later, as credit allows.
///     fn upto(&mut self, stream: wirecall::RequestId, n: u32) -> Result<(), wirecall::WireError> {
///         self.upto = Some((stream, n));
///         Ok(())
///     }
///     fn sum(&mut self, _: wirecall::RequestId) -> Result<(), wirecall::WireError> {
///         Ok(())
///     }
///     fn double(&mut self, _: wirecall::RequestId) -> Result<(), wirecall::WireError> {
///         Ok(())
///     }
///     fn reset(&mut self) -> Result<(), wirecall::WireError> {
///         Ok(())
///     }
///     fn chars(&mut self, text: &str) -> Result<u32, wirecall::WireError> {
///         Ok(text.chars().count() as u32)
///     }
/// }
///
/// use wirecall::{Dispatched, Procedure, StreamMode, StreamProcedure};
/// assert_eq!(calc::Add::ID, 0);
/// assert_eq!(calc::PROCEDURES[1].name, "count");
/// assert_eq!(calc::Upto::MODE, StreamMode::ServerStream);
/// assert_eq!(calc::PROCEDURES[3].in_item, "u32");
/// assert_eq!((calc::PROCEDURES[2].output, calc::PROCEDURES[2].item), ("()", "u32"));
/// assert_eq!(calc::PROCEDURES[3].output, "u64");
/// assert_eq!((calc::PROCEDURES[5].name, calc::PROCEDURES[5].output), ("reset", "()"));
/// assert_eq!(calc::PROCEDURES[0].params, "a: i32, b: i32");
/// assert_eq!(calc::PROCEDURES[6].params, "text: &str");
/// // Buffers sized from the declaration: the longest result is a `u64` (10 bytes).
/// let mut out = [0u8; calc::MAX_REPLY_LEN];
/// let n = calc::dispatch(&mut Calc { upto: None }, calc::Add::ID, &[2, 4], &mut out).unwrap(); // add(1, 2)
/// assert_eq!(calc::Add::output(&out[..n]), Ok(3));
/// let n = calc::dispatch(&mut Calc { upto: None }, calc::Chars::ID, b"\x03h\xc3\xa9", &mut out).unwrap();
/// assert_eq!(calc::Chars::output(&out[..n]), Ok(2));
/// assert_eq!(calc::dispatch(&mut Calc { upto: None }, 9, &[], &mut out), Err(wirecall::WireError::UnknownProcedure));
/// ```
///
/// Two procedures with the same number (or the same name) do not compile: the error points
/// at the second and at the first.
///
/// ```compile_fail
/// wirecall::service! {
///     pub mod clash {
///         0 => Add: fn add(a: i32, b: i32) -> i32;
///         0 => Sub: fn sub(a: i32, b: i32) -> i32;
///     }
/// }
/// ```
///
/// A type without a wire description is an error at that type, saying what to use
/// instead (in `no_std` code, `String` and `Vec` are such types: use `heapless::String<N>`
/// and `heapless::Vec<T, N>`):
///
/// ```compile_fail,E0277
/// struct NotOnTheWire;
/// wirecall::service! {
///     pub mod bad {
///         0 => Take: fn take(x: NotOnTheWire) -> u32;
///     }
/// }
/// ```
///
/// # Shapes
///
/// A procedure is one of four shapes: `fn f(args) -> T` (a plain call; `fn f(args);` for
/// `-> ()`), `fn f(args) -> stream T` (a server stream of `T` items, ended by a reply of
/// `()`), `fn f(args, stream U) -> T` (a client stream of `U` items, answered by one `T`),
/// and `fn f(args, stream U) -> stream T` (both ways). A parameter may not be named
/// `stream`. Parameters declared `&str` or `&[u8]` are borrowed from the received request
/// instead of copied (other types are owned: write `heapless::String<N>` or
/// `heapless::Vec<T, N>` in `no_std` code, `String` or `Vec<T>` with feature `alloc`).
///
/// # Handles and interfaces
///
/// `fn f(args) -> handle I` returns a handle to a new object of interface `I`, declared in
/// the same module with `interface I { N => Marker: fn method(a: T) -> U; ... }`: the
/// methods callable on the handle, numbered apart from the procedures, plain calls with
/// owned parameters (a borrowed one is refused by the compiler). The interface becomes a
/// module `I` with the method markers, a device `Handler` (`fn method(&mut self, this:
/// Handle, ..)`), a host `HostMethods` (on the object), `METHODS`, `SCHEMA`, `INTERFACE`,
/// `dispatch`/`serve`, and `Remote<R>`/`AsyncRemote<R>` (the typed handle a client holds).
/// Inside it, names of your own called `Handler`, `HostMethods`, `Remote`, `AsyncRemote`,
/// `NAME`, `INTERFACE`, `METHODS`, `SCHEMA`, `PROCEDURES`, `dispatch` or `serve` are
/// hidden by these.
///
/// ```
/// wirecall::service! {
///     pub mod files {
///         /// Opens a file by name.
///         0 => Open: fn open(name: heapless::String<16>) -> handle File;
///         /// An open file.
///         interface File {
///             /// Its size in bytes.
///             0 => Size: fn size() -> u32;
///         }
///     }
/// }
///
/// /// A device keeps its objects by the slot of their handle.
/// struct Device { sizes: [Option<u32>; 4] }
/// impl files::Handler for Device {
///     fn open(&mut self, this: wirecall::Handle, name: heapless::String<16>) -> Result<(), wirecall::WireError> {
///         let slot = self.sizes.get_mut(this.slot()).ok_or(wirecall::WireError::Internal)?;
///         *slot = Some(name.len() as u32);
///         Ok(())
///     }
/// }
/// impl files::File::Handler for Device {
///     fn size(&mut self, this: wirecall::Handle) -> Result<u32, wirecall::WireError> {
///         self.sizes.get(this.slot()).copied().flatten().ok_or(wirecall::WireError::StaleHandle)
///     }
/// }
///
/// use wirecall::Procedure;
/// let mut device = Device { sizes: [None; 4] };
/// let this = wirecall::Handle::new(2, 1); // the handle the request's event announced
/// assert_eq!(files::Open::ID, 0);
/// // `dispatch_request` runs `open` with the announced handle and says to export ...
/// assert_eq!(files::File::INTERFACE, 0);
/// assert_eq!(files::PROCEDURES[0].output, "handle File");
/// assert_eq!(files::MANIFEST[0], wirecall::MANIFEST_FORMAT_INTERFACES);
/// files::Handler::open(&mut device, this, "a.txt".try_into().unwrap()).unwrap();
/// // ... and `dispatch_invoke` runs the methods on it.
/// let mut out = [0u8; 8];
/// let n = files::dispatch_invoke(&mut device, this, files::File::INTERFACE, files::File::Size::ID, &[], &mut out).unwrap();
/// assert_eq!(&out[..n], &[5]);
/// ```
///
/// # What it generates
///
/// In the module, for every side:
/// * one marker type per procedure implementing [`Procedure`](crate::Procedure) (and
///   [`StreamProcedure`](crate::StreamProcedure) for streams);
/// * `DESCRIPTION` (the service described: names, parameters and [`Type`](crate::Type)s),
///   `MANIFEST` (the description as bytes, built at compile time; serve it with
///   `Config::with_manifest` so that any host can call the service by name), `SCHEMA_HASH`
///   (its hash, which the handshake carries), `PROCEDURES`, and `MAX_ARGS_LEN`,
///   `MAX_REPLY_LEN`, `MAX_ITEM_LEN` (the longest encoded arguments, result and stream
///   item, from the declared types; `usize::MAX` where a type has no bound).
///
/// For a device that drives its [`Endpoint`](crate::Endpoint) itself:
/// * `Handler`, one `&mut self` method per procedure (a stream's method takes its
///   [`RequestId`](crate::RequestId) and accepts or refuses the stream; the application
///   then moves its items through the endpoint);
/// * `dispatch` (decode a plain call's arguments, call the handler, encode the result
///   into `out`; errors are the [`WireError`](crate::WireError) to answer with) and
///   `dispatch_request` (the same for any request, streams included, checking the
///   request's stream mode against the declaration).
///
/// For a host runtime (`wirecall-adapters`):
/// * `Client<C>`: one method per procedure, `client.add(40, 2)`, over any
///   [`Caller`](crate::Caller) (the blocking `wirecall_adapters::host::Client`); a stream
///   procedure's method opens the stream and returns it. Every call checks the peer's
///   schema hash first, so a client of one service never reaches another's procedure.
///   `with_timeout` sets the deadline of its calls. Procedures named `new`, `caller` or
///   `with_timeout` would clash with these.
/// * `AsyncClient<C>`: the same with `async` methods, over any
///   [`AsyncCaller`](crate::AsyncCaller) (the tokio `AsyncClient`).
/// * `HostHandler`: one `&self` method per procedure, run on any thread, concurrently; a
///   stream's method gets its items as [`StreamItems`](crate::StreamItems) first.
/// * `serve(handler)`: the glue that serves a `HostHandler` with a host runtime's server
///   (`serve_tcp(listener, calc::serve(MyHandler), options)`), sizing its result buffer
///   from the declaration and serving the manifest.
///
/// The generated module sees the items of the module around it (`use super::*`), and its
/// own items come first: a procedure's marker type named like one of your types (`Status`
/// next to a `struct Status`) hides it inside the service. Name markers after what they do
/// (`GetStatus`).
///
/// Every parameter, result and item type must implement [`Schema`](crate::Schema): the
/// primitives, tuples, arrays, `Option` and the `heapless` containers do, and
/// `#[derive(wirecall::Schema)]` (feature `derive`) does it for your structs and enums.
#[macro_export]
macro_rules! service {
    (
        $(#[$meta:meta])*
        $vis:vis mod $service:ident {
            $($body:tt)*
        }
    ) => {
        $crate::__service! {
            @munch [handler args out mode id io export 'a] [$(#[$meta])* $vis $service]
            [] [] [] [] [] [] [] [] []
            $($body)*
        }
    };
}

/// The machinery of [`service!`]: it reads one procedure at a time and appends what each
/// generates to eight accumulators (items, `Handler` methods, `HostHandler` methods, schema
/// entries, procedure infos, call dispatch arms, request dispatch arms, host dispatch
/// arms), then writes the module. The names in the first group are the identifiers that
/// generated code shares across expansions (macro hygiene would keep apart names that each
/// expansion wrote itself).
#[doc(hidden)]
#[macro_export]
macro_rules! __service {
    // The end: write the module.
    (
        @munch [$h:ident $a:ident $o:ident $md:ident $i:ident $x:ident $ex:ident $lt:lifetime] [$(#[$meta:meta])* $vis:vis $service:ident]
        [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($iface:ident)*]
    ) => {
        $(#[$meta])*
        $vis mod $service {
            #[allow(unused_imports)]
            use super::*;
            // `String` and `Vec` here are the `alloc` types with wirecall's feature `alloc`;
            // without it (as in `no_std` code, where they are not even in scope) they are
            // stand-ins whose error, at the type, says to use `heapless` types. (A glob
            // import outranks the prelude; the parent's own items outrank neither.)
            #[allow(unused_imports)]
            use $crate::__alloc_or_hint::*;

            $($items)*

            /// The server side on a device: one method per procedure. An `Err` is sent to
            /// the caller. A stream's method accepts (`Ok`) or refuses the stream; its items
            /// then move through the endpoint, and the application responds when it is over.
            ///
            /// A service with interfaces also implements each interface's `Handler` (the
            /// methods on its objects); a procedure that returns a handle gets the handle
            /// its object will have (`this`): keep the object at `this.slot()`.
            pub trait Handler where Self: $($iface::Handler +)* {
                $($methods)*
            }

            /// The server side on a host: one method per procedure, called from any thread
            /// and concurrently (share state with atomics or a lock). An `Err` is sent to
            /// the caller. A stream's method gets the stream's items first: it sends and
            /// receives them (waiting for credit) until it returns, which ends the stream.
            /// Serve it with [`serve`].
            ///
            /// For each interface, the type of its objects (`type Channel = MyChannel;`),
            /// which implements the interface's `HostMethods`: a procedure that returns a
            /// handle returns the object, and the runtime keeps it until the caller releases
            /// the handle or the session ends.
            pub trait HostHandler: ::core::marker::Send + ::core::marker::Sync {
                $(
                    /// The objects of this interface.
                    type $iface: $iface::HostMethods;
                )*
                $($hmethods)*
            }

            /// The names of the service's interfaces, in order: an interface's number
            /// (`INTERFACE`, kept by the exporter's table, never sent) is its position here.
            pub const INTERFACE_NAMES: &[&str] = &[$(stringify!($iface)),*];

            /// An object this service exports, of any of its interfaces, as a host runtime
            /// keeps it.
            pub enum Object<H: HostHandler> {
                $(
                    /// An object of this interface.
                    $iface(H::$iface),
                )*
                #[doc(hidden)]
                __None(::core::marker::PhantomData<H>, ::core::convert::Infallible),
            }

            /// Calls `method` of the interface numbered `interface` on the device object
            /// whose handle is `this` (an `Event::Invoke` resolved to an object): decodes
            /// the arguments, calls the handler, and encodes the result into `out`.
            pub fn dispatch_invoke<H: Handler + ?Sized>(
                handler: &mut H,
                this: $crate::Handle,
                interface: u8,
                method: u32,
                args: &[u8],
                out: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::WireError> {
                let _ = (&handler, &this, &method, &args, &out);
                $(
                    if interface == $iface::INTERFACE {
                        return $iface::dispatch(handler, this, method, args, out);
                    }
                )*
                Err($crate::WireError::StaleHandle)
            }

            /// The service described: every procedure with its parameters' names and the
            /// types of its arguments, result and items.
            pub const DESCRIPTION: $crate::ServiceSchema = $crate::ServiceSchema {
                name: stringify!($service),
                procedures: &[$($schema)*],
                interfaces: &[$($iface::SCHEMA),*],
            };

            // No two procedures share a number or a name: a compile error otherwise.
            const _: () = $crate::__check_unique(&DESCRIPTION);

            const MANIFEST_LEN: usize = $crate::manifest_len(&DESCRIPTION);
            const MANIFEST_BYTES: [u8; MANIFEST_LEN] = $crate::manifest::<MANIFEST_LEN>(&DESCRIPTION);

            /// [`DESCRIPTION`] as the bytes a peer fetches (in flash on a device): give it
            /// to `Config::with_manifest`.
            pub static MANIFEST: [u8; MANIFEST_LEN] = MANIFEST_BYTES;

            /// The hash of [`MANIFEST`], which the handshake carries: for
            /// `Config::expecting_schema` (`with_manifest` sets it as this side's).
            pub const SCHEMA_HASH: u32 = $crate::manifest_hash(&MANIFEST_BYTES);

            /// The longest encoded result of any procedure (`usize::MAX`: a result type
            /// has no bound): the size of the `out` buffer of [`dispatch`].
            pub const MAX_REPLY_LEN: usize = $crate::__or_unbounded(DESCRIPTION.max_reply_len());

            /// The longest encoded arguments of any procedure (`usize::MAX`: unbounded).
            pub const MAX_ARGS_LEN: usize = $crate::__or_unbounded(DESCRIPTION.max_args_len());

            /// The longest encoded stream item, either way (`usize::MAX`: unbounded).
            pub const MAX_ITEM_LEN: usize = $crate::__or_unbounded(DESCRIPTION.max_item_len());

            /// Every procedure of the service.
            pub const PROCEDURES: &[$crate::ProcedureInfo] = &[$($infos)*];

            /// Decodes `args` for plain-call `procedure`, calls `handler`, and encodes the
            /// result into `out`, returning its length. A stream procedure is
            /// `UnknownProcedure` here: use [`dispatch_request`].
            pub fn dispatch<H: Handler + ?Sized>(
                $h: &mut H,
                procedure: u32,
                $a: &[u8],
                $o: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::WireError> {
                // Two procedures with one number: an error at the second, pointing at the first.
                #[allow(unused_parens)]
                #[deny(unreachable_patterns)]
                match procedure {
                    $($calls)*
                    _ => Err($crate::WireError::UnknownProcedure),
                }
            }

            /// Serves request `id`, whose stream mode is `mode` (the endpoint's
            /// `request_mode`): a plain call is answered into `out` as [`dispatch`] does; a
            /// stream is handed to its handler method. A mode other than the declared one
            /// is `BadArguments`.
            ///
            /// `export` is the request event's: the handle that a procedure returning a
            /// handle gives its new object (`TooManyHandles` if `None`); answer
            /// `Dispatched::Export { interface, handle }` with
            /// `Endpoint::respond_export_at(id, interface, handle)`.
            pub fn dispatch_request<H: Handler + ?Sized>(
                $h: &mut H,
                $i: $crate::RequestId,
                $md: $crate::StreamMode,
                procedure: u32,
                $a: &[u8],
                $ex: ::core::option::Option<$crate::Handle>,
                $o: &mut [u8],
            ) -> ::core::result::Result<$crate::Dispatched, $crate::WireError> {
                let _ = (&$i, &$ex);
                #[allow(unused_parens)]
                #[deny(unreachable_patterns)]
                match procedure {
                    $($requests)*
                    _ => Err($crate::WireError::UnknownProcedure),
                }
            }

            /// A [`HostHandler`] as a host runtime serves it (see [`serve`]).
            #[derive(Clone, Copy, Debug, Default)]
            pub struct Dispatcher<H>(pub H);

            impl<H: HostHandler + 'static> $crate::Dispatch for Dispatcher<H> {
                type Object = Object<H>;

                fn manifest(&self) -> &'static [u8] {
                    &MANIFEST
                }

                fn schema_hash(&self) -> u32 {
                    SCHEMA_HASH
                }

                fn procedures(&self) -> &'static [$crate::ProcedureInfo] {
                    PROCEDURES
                }

                fn max_reply_len(&self, procedure: u32) -> usize {
                    let mut rest = DESCRIPTION.procedures;
                    while let [p, tail @ ..] = rest {
                        if p.id == procedure {
                            return $crate::__or_unbounded($crate::max_encoded_len_of(p.output));
                        }
                        rest = tail;
                    }
                    0
                }

                fn max_invoke_len(&self, interface: u8, method: u32) -> usize {
                    let _ = (&interface, &method);
                    $(
                        if interface == $iface::INTERFACE {
                            let mut rest = $iface::METHODS;
                            while let [p, tail @ ..] = rest {
                                if p.id == method {
                                    return $crate::__or_unbounded($crate::max_encoded_len_of(p.output));
                                }
                                rest = tail;
                            }
                        }
                    )*
                    0
                }

                fn returns_handle(&self, procedure: u32) -> bool {
                    DESCRIPTION
                        .procedures
                        .iter()
                        .any(|p| p.id == procedure && matches!(p.output, $crate::Type::Handle(_)))
                }

                fn serve<X: $crate::StreamIo>(
                    &self,
                    procedure: u32,
                    $md: $crate::StreamMode,
                    $a: &[u8],
                    $x: &mut X,
                    $o: &mut [u8],
                ) -> ::core::result::Result<$crate::Answer<Object<H>>, $crate::DispatchError> {
                    let $h = &self.0;
                    let _ = &$x;
                    #[allow(unused_parens)]
                    match procedure {
                        $($hcalls)*
                        _ => Err($crate::DispatchError::UnknownProcedure),
                    }
                }

                fn invoke(
                    &self,
                    object: &Object<H>,
                    method: u32,
                    args: &[u8],
                    out: &mut [u8],
                ) -> ::core::result::Result<usize, $crate::DispatchError> {
                    let _ = (&method, &args, &out);
                    match object {
                        $(Object::$iface(o) => $iface::serve(o, method, args, out),)*
                        Object::__None(_, never) => match *never {},
                    }
                }

                fn interface_name(&self, interface: u8) -> &'static str {
                    INTERFACE_NAMES.get(usize::from(interface)).copied().unwrap_or("")
                }
            }

            /// Serves `handler` with a host runtime:
            /// `wirecall_adapters::host::serve_tcp(listener, serve(handler), options)`
            /// (also `serve_unix`, `serve_link`, `serve_port` and the tokio flavour's
            /// `serve`). Every connection shares the one handler; the server serves
            /// [`MANIFEST`] and announces [`SCHEMA_HASH`].
            pub fn serve<H: HostHandler + 'static>(handler: H) -> $crate::Served<Dispatcher<H>> {
                $crate::Served(Dispatcher(handler))
            }

            /// A typed client: one method per procedure, over a host runtime's client
            /// (`Client::new(wirecall_adapters::host::Client::connect(..)?)`). Every call
            /// first checks that the peer serves this service ([`SCHEMA_HASH`]).
            #[derive(Clone, Debug)]
            pub struct Client<C> {
                caller: C,
                timeout: ::core::option::Option<::core::time::Duration>,
                pipelined: bool,
            }

            impl<C> Client<C> {
                /// Calls the service through `caller`, with its default deadline.
                pub fn new(caller: C) -> Self {
                    Client { caller, timeout: None, pipelined: false }
                }

                /// Procedures that return a handle return it at once, before their answer:
                /// calls made on it go out at once too, naming "the handle that call
                /// returns" (pipelining), which saves a round trip per call on a slow
                /// link. A failure of the procedure shows as the failure of the first call
                /// made on its handle (`StaleHandle`), or of `resolve` on it.
                #[must_use]
                pub fn pipelined(mut self) -> Self {
                    self.pipelined = true;
                    self
                }

                /// Every call made through the client returned lasts at most `timeout`
                /// (waiting for a connection included).
                #[must_use]
                pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {
                    self.timeout = Some(timeout);
                    self
                }

                /// The caller underneath (its statistics, its manifest, untyped calls).
                pub fn caller(&self) -> &C {
                    &self.caller
                }
            }

            /// [`Client`], asynchronous: one `async` method per procedure, over a host
            /// runtime's async client (`AsyncClient::new(wirecall_adapters::host::tokio::AsyncClient::over(..))`).
            #[derive(Clone, Debug)]
            pub struct AsyncClient<C> {
                caller: C,
                timeout: ::core::option::Option<::core::time::Duration>,
            }

            impl<C> AsyncClient<C> {
                /// Calls the service through `caller`, with its default deadline.
                pub fn new(caller: C) -> Self {
                    AsyncClient { caller, timeout: None }
                }

                /// Every call made through the client returned lasts at most `timeout`.
                #[must_use]
                pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {
                    self.timeout = Some(timeout);
                    self
                }

                /// The caller underneath.
                pub fn caller(&self) -> &C {
                    &self.caller
                }
            }
        }
    };

    // An interface: the methods callable on a handle of it, in a module of its name.
    (
        @munch $names:tt $head:tt
        [$($items:tt)*] $methods:tt [$($hmethods:tt)*] $schema:tt $infos:tt $calls:tt $requests:tt $hcalls:tt [$($ifaces:tt)*]
        $(#[$imeta:meta])*
        interface $iface:ident { $($ibody:tt)* }
        $($rest:tt)*
    ) => {
        $crate::__service! {
            @munch $names $head
            [$($items)* $crate::__interface! { [$(#[$imeta])*] $iface $($ibody)* }]
            $methods [$($hmethods)*] $schema $infos $calls $requests $hcalls [$($ifaces)* $iface]
            $($rest)*
        }
    };

    // A procedure that returns a handle to a new object: `-> handle Interface`.
    (
        @munch $names:tt $head:tt
        [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
        $(#[$pmeta:meta])*
        $id:literal => $Marker:ident : fn $method:ident ( $($params:tt)* ) -> handle $iface:ident ;
        $($rest:tt)*
    ) => {
        $crate::__service! {
            @params $names [$names $head [$($items)*] [$($methods)*] [$($hmethods)*] [$($schema)*] [$($infos)*] [$($calls)*] [$($requests)*] [$($hcalls)*] [$($ifaces)*]
                [$(#[$pmeta])*] $id $Marker $method [handle $iface] [$($rest)*]]
            [] $($params)*
        }
    };

    // A server or bidirectional stream: `-> stream T`.
    (
        @munch $names:tt $head:tt
        [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
        $(#[$pmeta:meta])*
        $id:literal => $Marker:ident : fn $method:ident ( $($params:tt)* ) -> stream $item:ty ;
        $($rest:tt)*
    ) => {
        $crate::__service! {
            @params $names [$names $head [$($items)*] [$($methods)*] [$($hmethods)*] [$($schema)*] [$($infos)*] [$($calls)*] [$($requests)*] [$($hcalls)*] [$($ifaces)*]
                [$(#[$pmeta])*] $id $Marker $method [stream $item] [$($rest)*]]
            [] $($params)*
        }
    };

    // A borrowed result: refused with a message (a reply is decoded by a caller that
    // keeps it after the receive buffer is reused).
    (
        @munch $names:tt $head:tt
        $items:tt $methods:tt $hmethods:tt $schema:tt $infos:tt $calls:tt $requests:tt $hcalls:tt $ifaces:tt
        $(#[$pmeta:meta])*
        $id:literal => $Marker:ident : fn $method:ident ( $($params:tt)* ) -> & $($out:tt)*
    ) => {
        ::core::compile_error!(concat!(
            "`", stringify!($method), "`: a result cannot be borrowed; return an owned type ",
            "(`heapless::String<N>`, `heapless::Vec<u8, N>`, or with feature `alloc` `String`, `Vec<u8>`)"
        ));
    };

    // A plain call or a client stream: `-> T`.
    (
        @munch $names:tt $head:tt
        [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
        $(#[$pmeta:meta])*
        $id:literal => $Marker:ident : fn $method:ident ( $($params:tt)* ) -> $out:ty ;
        $($rest:tt)*
    ) => {
        $crate::__service! {
            @params $names [$names $head [$($items)*] [$($methods)*] [$($hmethods)*] [$($schema)*] [$($infos)*] [$($calls)*] [$($requests)*] [$($hcalls)*] [$($ifaces)*]
                [$(#[$pmeta])*] $id $Marker $method [value $out] [$($rest)*]]
            [] $($params)*
        }
    };

    // A plain call whose result is `()`, written without `-> ()`.
    (
        @munch $names:tt $head:tt
        [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
        $(#[$pmeta:meta])*
        $id:literal => $Marker:ident : fn $method:ident ( $($params:tt)* ) ;
        $($rest:tt)*
    ) => {
        $crate::__service! {
            @params $names [$names $head [$($items)*] [$($methods)*] [$($hmethods)*] [$($schema)*] [$($infos)*] [$($calls)*] [$($requests)*] [$($hcalls)*] [$($ifaces)*]
                [$(#[$pmeta])*] $id $Marker $method [value ()] [$($rest)*]]
            [] $($params)*
        }
    };

    // Parameters, each recorded as `(name [type as written] [type with the args' lifetime]
    // [type as text])`:
    // `&str` and `&[u8]` borrow from the request (tried first), then `name: T`, then
    // `stream U` (the caller's items; after the names, so a literal `stream` is never taken
    // for a name), then the end.
    (@params [$($n:ident)* $lt:lifetime] $ctx:tt [$($args:tt)*] $arg:ident : & str $(, $($more:tt)*)?) => {
        $crate::__service! { @params [$($n)* $lt] $ctx [$($args)* ($arg [&str] [& $lt str] ["&str"])] $($($more)*)? }
    };
    (@params [$($n:ident)* $lt:lifetime] $ctx:tt [$($args:tt)*] $arg:ident : & [u8] $(, $($more:tt)*)?) => {
        $crate::__service! { @params [$($n)* $lt] $ctx [$($args)* ($arg [&[u8]] [& $lt [u8]] ["&[u8]"])] $($($more)*)? }
    };
    (@params $names:tt $ctx:tt [$($args:tt)*] $arg:ident : $argty:ty , $($more:tt)*) => {
        $crate::__service! { @params $names $ctx [$($args)* ($arg [$argty] [$argty] [stringify!($argty)])] $($more)* }
    };
    (@params $names:tt $ctx:tt [$($args:tt)*] $arg:ident : $argty:ty) => {
        $crate::__service! { @emit $ctx [$($args)* ($arg [$argty] [$argty] [stringify!($argty)])] [] }
    };
    (@params $names:tt $ctx:tt [$($args:tt)*] stream $in:ty) => {
        $crate::__service! { @emit $ctx [$($args)*] [$in] }
    };
    (@params $names:tt $ctx:tt [$($args:tt)*]) => {
        $crate::__service! { @emit $ctx [$($args)*] [] }
    };

    // A procedure returning a handle.
    (
        @emit [[$h:ident $a:ident $o:ident $md:ident $i:ident $x:ident $ex:ident $lt:lifetime] $head:tt [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
            [$(#[$pmeta:meta])*] $id:literal $Marker:ident $method:ident [handle $iface:ident] [$($rest:tt)*]]
        [$(($arg:ident [$($argty:tt)*] [$($owned:tt)*] [$text:expr]))*] []
    ) => {
        $crate::__service! {
            @munch [$h $a $o $md $i $x $ex $lt] $head
            [$($items)*
                $(#[$pmeta])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Marker;
                impl $crate::Procedure for $Marker {
                    const ID: u32 = $id;
                    const NAME: &'static str = stringify!($method);
                    type Args<$lt> = ($($($owned)*,)*);
                    type Output = $crate::Handle;
                }
                impl<C: $crate::Caller> Client<C> {
                    $(#[$pmeta])*
                    ///
                    /// Returns a handle to the new object: calls on it are calls on the
                    /// object; dropping it releases the object.
                    pub fn $method(&self, $($arg: $($argty)*),*) -> ::core::result::Result<$iface::Remote<C::Remote>, C::Error> {
                        self.caller
                            .call_export::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout, self.pipelined)
                            .map(|remote| $iface::Remote::new(remote, self.timeout))
                    }
                }
                impl<C: $crate::AsyncCaller> AsyncClient<C> {
                    $(#[$pmeta])*
                    ///
                    /// Returns a handle to the new object (dropping it releases the object).
                    pub fn $method<$lt>(&$lt self, $($arg: $($owned)*),*)
                        -> impl ::core::future::Future<Output = ::core::result::Result<$iface::AsyncRemote<C::Remote>, C::Error>> + ::core::marker::Send + $lt
                    where
                        C: ::core::marker::Sync,
                    {
                        async move {
                            self.caller
                                .call_export::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout)
                                .await
                                .map(|remote| $iface::AsyncRemote::new(remote, self.timeout))
                        }
                    }
                }
            ]
            [$($methods)*
                $(#[$pmeta])*
                ///
                /// Makes the object whose handle will be `this`: keep it at `this.slot()`.
                fn $method(&mut self, this: $crate::Handle, $($arg: $($argty)*),*) -> ::core::result::Result<(), $crate::WireError>;
            ]
            [$($hmethods)*
                $(#[$pmeta])*
                ///
                /// Returns the new object; the caller gets a handle to it.
                fn $method(&self, $($arg: $($argty)*),*) -> ::core::result::Result<Self::$iface, $crate::WireError>;
            ]
            [$($schema)* $crate::ProcedureSchema {
                id: $id,
                name: stringify!($method),
                mode: $crate::StreamMode::Call,
                params: &[$($crate::Field { name: stringify!($arg), ty: <$($argty)* as $crate::Schema>::TYPE },)*],
                output: &$crate::Type::Handle(stringify!($iface)),
                item: &$crate::Type::Unit,
                in_item: &$crate::Type::Unit,
            },]
            [$($infos)* $crate::ProcedureInfo {
                id: $id,
                name: stringify!($method),
                params: $crate::__service!(@join $([stringify!($arg), ": ", $text])*),
                output: concat!("handle ", stringify!($iface)),
                mode: $crate::StreamMode::Call,
                item: "",
                in_item: "",
            },]
            [$($calls)*]
            [$($requests)*
                $id => {
                    if $md != $crate::StreamMode::Call {
                        return Err($crate::WireError::BadArguments);
                    }
                    let ::core::option::Option::Some(this) = $ex else {
                        return Err($crate::WireError::TooManyHandles);
                    };
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::WireError::BadArguments)?;
                    $h.$method(this, $($arg),*)?;
                    Ok($crate::Dispatched::Export { interface: $iface::INTERFACE, handle: this })
                }
            ]
            [$($hcalls)*
                $id => {
                    if $md != $crate::StreamMode::Call {
                        return Err($crate::DispatchError::WrongMode { declared: $crate::StreamMode::Call });
                    }
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::DispatchError::BadArguments)?;
                    let object = $h.$method($($arg),*).map_err($crate::DispatchError::Handler)?;
                    Ok($crate::Answer::Export { interface: $iface::INTERFACE, object: Object::$iface(object) })
                }
            ]
            [$($ifaces)*]
            $($rest)*
        }
    };

    // A plain call.
    (
        @emit [[$h:ident $a:ident $o:ident $md:ident $i:ident $x:ident $ex:ident $lt:lifetime] $head:tt [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
            [$(#[$pmeta:meta])*] $id:literal $Marker:ident $method:ident [value $out:ty] [$($rest:tt)*]]
        [$(($arg:ident [$($argty:tt)*] [$($owned:tt)*] [$text:expr]))*] []
    ) => {
        $crate::__service! {
            @munch [$h $a $o $md $i $x $ex $lt] $head
            [$($items)*
                $(#[$pmeta])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Marker;
                impl $crate::Procedure for $Marker {
                    const ID: u32 = $id;
                    const NAME: &'static str = stringify!($method);
                    type Args<$lt> = ($($($owned)*,)*);
                    type Output = $out;
                }
                impl<C: $crate::Caller> Client<C> {
                    $(#[$pmeta])*
                    pub fn $method(&self, $($arg: $($argty)*),*) -> ::core::result::Result<$out, C::Error> {
                        self.caller.call_procedure::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout)
                    }
                }
                impl<C: $crate::AsyncCaller> AsyncClient<C> {
                    $(#[$pmeta])*
                    // Not an `async fn`: a future that states `Send` can be spawned (the
                    // compiler cannot prove it of a generic `async fn`'s, rust#100013).
                    pub fn $method<$lt>(&$lt self, $($arg: $($owned)*),*)
                        -> impl ::core::future::Future<Output = ::core::result::Result<$out, C::Error>> + ::core::marker::Send + $lt
                    where
                        C: ::core::marker::Sync,
                    {
                        async move {
                            self.caller.call_procedure::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout).await
                        }
                    }
                }
            ]
            [$($methods)*
                $(#[$pmeta])*
                fn $method(&mut self, $($arg: $($argty)*),*) -> ::core::result::Result<$out, $crate::WireError>;
            ]
            [$($hmethods)*
                $(#[$pmeta])*
                fn $method(&self, $($arg: $($argty)*),*) -> ::core::result::Result<$out, $crate::WireError>;
            ]
            [$($schema)* $crate::ProcedureSchema {
                id: $id,
                name: stringify!($method),
                mode: $crate::StreamMode::Call,
                params: &[$($crate::Field { name: stringify!($arg), ty: <$($argty)* as $crate::Schema>::TYPE },)*],
                output: <$out as $crate::Schema>::TYPE,
                item: &$crate::Type::Unit,
                in_item: &$crate::Type::Unit,
            },]
            [$($infos)* $crate::ProcedureInfo {
                id: $id,
                name: stringify!($method),
                params: $crate::__service!(@join $([stringify!($arg), ": ", $text])*),
                output: stringify!($out),
                mode: $crate::StreamMode::Call,
                item: "",
                in_item: "",
            },]
            [$($calls)*
                $id => {
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::WireError::BadArguments)?;
                    let result = $h.$method($($arg),*)?;
                    $crate::__encode_result(&result, $o)
                }
            ]
            [$($requests)*
                $id => {
                    if $md != $crate::StreamMode::Call {
                        return Err($crate::WireError::BadArguments);
                    }
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::WireError::BadArguments)?;
                    let result = $h.$method($($arg),*)?;
                    $crate::__encode_result(&result, $o).map($crate::Dispatched::Reply)
                }
            ]
            [$($hcalls)*
                $id => {
                    if $md != $crate::StreamMode::Call {
                        return Err($crate::DispatchError::WrongMode { declared: $crate::StreamMode::Call });
                    }
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::DispatchError::BadArguments)?;
                    let result = $h.$method($($arg),*).map_err($crate::DispatchError::Handler)?;
                    $crate::__encode_result(&result, $o).map_err($crate::DispatchError::Encode).map($crate::Answer::Reply)
                }
            ]
            [$($ifaces)*]
            $($rest)*
        }
    };

    // Any stream: `$out` is `stream T` or `value T`, `$in` the caller's item type or none.
    (
        @emit [[$h:ident $a:ident $o:ident $md:ident $i:ident $x:ident $ex:ident $lt:lifetime] $head:tt [$($items:tt)*] [$($methods:tt)*] [$($hmethods:tt)*] [$($schema:tt)*] [$($infos:tt)*] [$($calls:tt)*] [$($requests:tt)*] [$($hcalls:tt)*] [$($ifaces:tt)*]
            [$(#[$pmeta:meta])*] $id:literal $Marker:ident $method:ident [$shape:ident $out:ty] [$($rest:tt)*]]
        [$(($arg:ident [$($argty:tt)*] [$($owned:tt)*] [$text:expr]))*] [$($in:ty)?]
    ) => {
        $crate::__service! {
            @munch [$h $a $o $md $i $x $ex $lt] $head
            [$($items)*
                $(#[$pmeta])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Marker;
                impl $crate::Procedure for $Marker {
                    const ID: u32 = $id;
                    const NAME: &'static str = stringify!($method);
                    type Args<$lt> = ($($($owned)*,)*);
                    type Output = $crate::__service!(@output $shape $out);
                }
                impl $crate::StreamProcedure for $Marker {
                    const MODE: $crate::StreamMode = $crate::__service!(@mode $shape [$($in)?]);
                    type Item = $crate::__service!(@item $shape $out);
                    type InItem = $crate::__service!(@in [$($in)?]);
                }
                impl<C: $crate::Caller> Client<C> {
                    $(#[$pmeta])*
                    ///
                    /// Opens the stream: its items, then its end, come through the value
                    /// returned (dropping it cancels the stream).
                    pub fn $method(&self, $($arg: $($argty)*),*) -> ::core::result::Result<C::Stream<$Marker>, C::Error> {
                        self.caller.open_procedure::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout)
                    }
                }
                impl<C: $crate::AsyncCaller> AsyncClient<C> {
                    $(#[$pmeta])*
                    ///
                    /// Opens the stream: its items, then its end, come through the value
                    /// returned (dropping it cancels the stream).
                    pub fn $method<$lt>(&$lt self, $($arg: $($owned)*),*)
                        -> impl ::core::future::Future<Output = ::core::result::Result<C::Stream<$Marker>, C::Error>> + ::core::marker::Send + $lt
                    where
                        C: ::core::marker::Sync,
                    {
                        async move {
                            self.caller.open_procedure::<$Marker>(SCHEMA_HASH, &($($arg,)*), self.timeout).await
                        }
                    }
                }
            ]
            [$($methods)*
                $(#[$pmeta])*
                fn $method(&mut self, stream: $crate::RequestId, $($arg: $($argty)*),*) -> ::core::result::Result<(), $crate::WireError>;
            ]
            [$($hmethods)*
                $(#[$pmeta])*
                fn $method(
                    &self,
                    stream: &mut dyn $crate::StreamItems<$crate::__service!(@in [$($in)?]), $crate::__service!(@item $shape $out)>,
                    $($arg: $($argty)*),*
                ) -> ::core::result::Result<$crate::__service!(@output $shape $out), $crate::WireError>;
            ]
            [$($schema)* $crate::ProcedureSchema {
                id: $id,
                name: stringify!($method),
                mode: $crate::__service!(@mode $shape [$($in)?]),
                params: &[$($crate::Field { name: stringify!($arg), ty: <$($argty)* as $crate::Schema>::TYPE },)*],
                output: <$crate::__service!(@output $shape $out) as $crate::Schema>::TYPE,
                item: <$crate::__service!(@item $shape $out) as $crate::Schema>::TYPE,
                in_item: <$crate::__service!(@in [$($in)?]) as $crate::Schema>::TYPE,
            },]
            [$($infos)* $crate::ProcedureInfo {
                id: $id,
                name: stringify!($method),
                params: $crate::__service!(@join $([stringify!($arg), ": ", $text])*),
                output: $crate::__service!(@output_text $shape $out),
                mode: $crate::__service!(@mode $shape [$($in)?]),
                item: $crate::__service!(@item_text $shape $out),
                in_item: concat!("" $(, stringify!($in))?),
            },]
            [$($calls)*]
            [$($requests)*
                $id => {
                    if $md != $crate::__service!(@mode $shape [$($in)?]) {
                        return Err($crate::WireError::BadArguments);
                    }
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::WireError::BadArguments)?;
                    $h.$method($i, $($arg),*)?;
                    Ok($crate::Dispatched::Stream)
                }
            ]
            [$($hcalls)*
                $id => {
                    let declared = $crate::__service!(@mode $shape [$($in)?]);
                    if $md != declared {
                        return Err($crate::DispatchError::WrongMode { declared });
                    }
                    let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args($a)
                        .map_err(|_| $crate::DispatchError::BadArguments)?;
                    let result = $h.$method(&mut *$x, $($arg),*).map_err($crate::DispatchError::Handler)?;
                    $crate::__encode_result(&result, $o).map_err($crate::DispatchError::Encode).map($crate::Answer::Reply)
                }
            ]
            [$($ifaces)*]
            $($rest)*
        }
    };

    // `a: i32, b: &str`: the parameters as declared, for tools and detail texts.
    (@join) => { "" };
    (@join [$($first:tt)*] $([$($more:tt)*])*) => { concat!($($first)* $(, ", ", $($more)*)*) };
    (@output stream $out:ty) => { () };
    (@output value $out:ty) => { $out };
    (@item stream $out:ty) => { $out };
    (@item value $out:ty) => { () };
    (@output_text stream $out:ty) => { "()" };
    (@output_text value $out:ty) => { stringify!($out) };
    (@item_text stream $out:ty) => { stringify!($out) };
    (@item_text value $out:ty) => { "" };
    (@in [$in:ty]) => { $in };
    (@in []) => { () };
    (@mode stream []) => { $crate::StreamMode::ServerStream };
    (@mode stream [$in:ty]) => { $crate::StreamMode::Bidi };
    (@mode value [$in:ty]) => { $crate::StreamMode::ClientStream };
}
