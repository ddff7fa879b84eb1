"""wirecall for Python: typed remote procedure calls over any byte stream.

A second implementation of the wirecall protocol (docs/PROTOCOL.md), in plain Python with the
standard library only (pyserial for serial ports). Call a device bound at run time::

    dev = wirecall.connect("tcp://127.0.0.1:7000")
    dev.add(2, 3)

or serve Python functions to any wirecall host::

    @wirecall.expose
    def add(a: wirecall.i32, b: wirecall.i32) -> wirecall.i32:
        return a + b

    wirecall.serve_stdio()
"""

from .aio import AsyncDevice, AsyncItemStream, connect_async
from .client import Device, ItemStream, RemoteObject, connect
from .errors import (Busy, Cancelled, ConnectionLost, DeadlineExceeded, DecodeError, EncodeError, Error, ErrorCode,
                     IncompatibleSchema, IncompatibleVersion, ProtocolError, Refused, RemoteError, Timeout, TooLarge)
from .hints import (array, char, f32, f64, i8, i16, i32, i64, i128, map_of, string, u8, u16, u32, u64, u128, unit,
                    vec)
from .manifest import Interface, Manifest, Param, Procedure, schema_hash
from .peer import Options, Peer
from .server import (Server, Service, default_service, expose, serve, serve_link, serve_serial, serve_stdio, serve_tcp,
                     serve_unix, tcp_server, unix_server)
from .transports import LinkUrl, open_link

__version__ = "0.1.0"

__all__ = [
    # calling
    "connect", "connect_async", "Device", "AsyncDevice", "ItemStream", "AsyncItemStream", "RemoteObject",
    # serving
    "expose", "Service", "default_service", "serve", "serve_stdio", "serve_tcp", "serve_unix", "serve_serial",
    "serve_link", "tcp_server", "unix_server", "Server",
    # wire types for hints
    "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128", "f32", "f64", "char", "unit",
    "string", "vec", "array", "map_of",
    # errors
    "Error", "RemoteError", "Busy", "DeadlineExceeded", "Timeout", "Cancelled", "ConnectionLost", "Refused",
    "IncompatibleSchema", "IncompatibleVersion", "ProtocolError", "DecodeError", "EncodeError", "TooLarge",
    "ErrorCode",
    # the rest
    "Manifest", "Interface", "Procedure", "Param", "schema_hash", "Options", "Peer", "LinkUrl", "open_link",
]
