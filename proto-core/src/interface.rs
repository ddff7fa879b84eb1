//! `interface` blocks of [`service!`](crate::service): the methods callable on a handle.
// `const fn`s run by the compiler: an index out of bounds or a panic here is a compile
// error, never a panic at run time.
#![allow(clippy::indexing_slicing, clippy::panic)]

/// The number of interface `name` among `names` (its position), for the `INTERFACE`
/// constant of an interface's module; a compile error if it is missing or past 255.
#[doc(hidden)]
pub const fn __interface_index(names: &[&str], name: &str) -> u8 {
    let mut i = 0;
    while i < names.len() {
        if crate::manifest::same(names[i], name) {
            assert!(i < 256, "a service has at most 256 interfaces");
            return i as u8;
        }
        i += 1;
    }
    panic!("an interface is missing from its service's list")
}

/// Writes the module of one `interface` of a [`service!`](crate::service): its method
/// markers, the device `Handler` and host `HostMethods` traits, its description, its
/// dispatch functions and the typed `Remote` handle. Methods are plain calls with owned
/// parameters: `N => Marker: fn name(a: T, ...) -> U;` (or without `-> U` for `()`).
#[doc(hidden)]
#[macro_export]
macro_rules! __interface {
    (
        [$(#[$meta:meta])*] $iface:ident
        $(
            $(#[$m:meta])*
            $id:literal => $Marker:ident : fn $method:ident ( $($arg:ident : $argty:ty),* $(,)? ) $(-> $out:ty)? ;
        )*
    ) => {
        $(#[$meta])*
        #[allow(non_snake_case)]
        pub mod $iface {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::__alloc_or_hint::*;

            /// The interface's name, as the manifest and handle types name it.
            pub const NAME: &str = stringify!($iface);

            /// Its number among the service's interfaces (its position in
            /// `INTERFACE_NAMES`): what the exporter's table keeps with each object. It is
            /// never sent: a handle alone says what it is.
            pub const INTERFACE: u8 = $crate::__interface_index(super::INTERFACE_NAMES, NAME);

            $(
                $(#[$m])*
                #[derive(Clone, Copy, Debug)]
                pub struct $Marker;
                impl $crate::Procedure for $Marker {
                    const ID: u32 = $id;
                    const NAME: &'static str = stringify!($method);
                    type Args<'a> = ($($argty,)*);
                    type Output = $crate::__interface!(@out $($out)?);
                }
            )*

            /// The methods on a device: `this` names the object (keep your objects by
            /// `this.slot()`). An `Err` is sent to the caller.
            pub trait Handler {
                $(
                    $(#[$m])*
                    fn $method(&mut self, this: $crate::Handle, $($arg: $argty),*)
                        -> ::core::result::Result<$crate::__interface!(@out $($out)?), $crate::WireError>;
                )*
            }

            /// The methods of an object on a host, called from any thread. An `Err` is
            /// sent to the caller.
            pub trait HostMethods: ::core::marker::Send + ::core::marker::Sync + 'static {
                $(
                    $(#[$m])*
                    fn $method(&self, $($arg: $argty),*)
                        -> ::core::result::Result<$crate::__interface!(@out $($out)?), $crate::WireError>;
                )*
            }

            /// The methods described, for the manifest.
            pub const METHODS: &[$crate::ProcedureSchema] = &[$(
                $crate::ProcedureSchema {
                    id: $id,
                    name: stringify!($method),
                    mode: $crate::StreamMode::Call,
                    params: &[$($crate::Field { name: stringify!($arg), ty: <$argty as $crate::Schema>::TYPE },)*],
                    output: <$crate::__interface!(@out $($out)?) as $crate::Schema>::TYPE,
                    item: &$crate::Type::Unit,
                    in_item: &$crate::Type::Unit,
                },
            )*];

            // No two methods share a number or a name: a compile error otherwise.
            const _: () = $crate::__check_unique(&$crate::ServiceSchema {
                name: NAME,
                procedures: METHODS,
                interfaces: &[],
            });

            /// The interface described, for the service's manifest.
            pub const SCHEMA: $crate::InterfaceSchema = $crate::InterfaceSchema {
                name: NAME,
                methods: METHODS,
            };

            /// Every method, with its signature as declared.
            pub const PROCEDURES: &[$crate::ProcedureInfo] = &[$(
                $crate::ProcedureInfo {
                    id: $id,
                    name: stringify!($method),
                    params: $crate::__service!(@join $([stringify!($arg), ": ", stringify!($argty)])*),
                    output: $crate::__interface!(@out_text $($out)?),
                    mode: $crate::StreamMode::Call,
                    item: "",
                    in_item: "",
                },
            )*];

            /// Calls `method` on the device object `this`: decodes the arguments, calls
            /// the handler, encodes the result into `out` and returns its length.
            pub fn dispatch<H: Handler + ?Sized>(
                handler: &mut H,
                this: $crate::Handle,
                method: u32,
                args: &[u8],
                out: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::WireError> {
                let _ = (&handler, &this, &args, &out);
                #[deny(unreachable_patterns)]
                match method {
                    $(
                        $id => {
                            #[allow(unused_parens)]
                            let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args(args)
                                .map_err(|_| $crate::WireError::BadArguments)?;
                            let result = handler.$method(this, $($arg),*)?;
                            $crate::__encode_result(&result, out)
                        }
                    )*
                    _ => Err($crate::WireError::UnknownProcedure),
                }
            }

            /// Calls `method` on a host object (what a host runtime does for a call on
            /// one of its handles).
            pub fn serve<O: HostMethods + ?Sized>(
                object: &O,
                method: u32,
                args: &[u8],
                out: &mut [u8],
            ) -> ::core::result::Result<usize, $crate::DispatchError> {
                let _ = (&object, &args, &out);
                match method {
                    $(
                        $id => {
                            #[allow(unused_parens)]
                            let ($($arg,)*) = <$Marker as $crate::Procedure>::decode_args(args)
                                .map_err(|_| $crate::DispatchError::BadArguments)?;
                            let result = object.$method($($arg),*).map_err($crate::DispatchError::Handler)?;
                            $crate::__encode_result(&result, out).map_err($crate::DispatchError::Encode)
                        }
                    )*
                    _ => Err($crate::DispatchError::UnknownProcedure),
                }
            }

            /// A handle to an object of this interface, as a host client holds it: one
            /// method per method of the interface. Dropping it releases the object.
            #[derive(Debug)]
            pub struct Remote<R> {
                remote: R,
                timeout: ::core::option::Option<::core::time::Duration>,
            }

            impl<R> Remote<R> {
                /// Wraps a runtime's handle; calls on it last at most `timeout` (none:
                /// the runtime's default).
                pub fn new(remote: R, timeout: ::core::option::Option<::core::time::Duration>) -> Self {
                    Remote { remote, timeout }
                }

                /// The runtime's handle underneath (its wire handle, its state).
                pub fn remote(&self) -> &R {
                    &self.remote
                }

                /// The runtime's handle, unwrapped.
                pub fn into_remote(self) -> R {
                    self.remote
                }
            }

            /// [`Remote`], asynchronous: a handle as an async client holds it, one `async`
            /// method per method of the interface. Dropping it releases the object.
            #[derive(Debug)]
            pub struct AsyncRemote<R> {
                remote: R,
                timeout: ::core::option::Option<::core::time::Duration>,
            }

            impl<R> AsyncRemote<R> {
                /// Wraps a runtime's handle; calls on it last at most `timeout`.
                pub fn new(remote: R, timeout: ::core::option::Option<::core::time::Duration>) -> Self {
                    AsyncRemote { remote, timeout }
                }

                /// The runtime's handle underneath.
                pub fn remote(&self) -> &R {
                    &self.remote
                }

                /// The runtime's handle, unwrapped.
                pub fn into_remote(self) -> R {
                    self.remote
                }
            }

            impl<R: $crate::AsyncRemoteObject + ::core::marker::Sync> AsyncRemote<R> {
                $(
                    $(#[$m])*
                    pub fn $method(&self, $($arg: $argty),*)
                        -> impl ::core::future::Future<Output = ::core::result::Result<$crate::__interface!(@out $($out)?), R::Error>> + ::core::marker::Send + '_
                    {
                        async move { self.remote.invoke::<$Marker>(&($($arg,)*), self.timeout).await }
                    }
                )*
            }

            impl<R: $crate::RemoteObject> Remote<R> {
                $(
                    $(#[$m])*
                    pub fn $method(&self, $($arg: $argty),*)
                        -> ::core::result::Result<$crate::__interface!(@out $($out)?), R::Error>
                    {
                        self.remote.invoke::<$Marker>(&($($arg,)*), self.timeout)
                    }
                )*
            }
        }
    };
    (@out) => { () };
    (@out $out:ty) => { $out };
    (@out_text) => { "()" };
    (@out_text $out:ty) => { stringify!($out) };
}
