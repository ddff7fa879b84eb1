"""One end of a wirecall link: the session (:mod:`wirecall.session`) with its caller's half
(:mod:`wirecall.caller`) and its server's (:mod:`wirecall.serving`), so that, like the
reference endpoint, each end may call and serve at once (docs/PROTOCOL.md, sections 5 to 9).
"""

from .caller import CallerSide
from .options import Budget, Options
from .records import CLOSED, ESTABLISHED, HANDSHAKING, PENDING, InCall, OutCall
from .serving import ServingSide


class Peer(CallerSide, ServingSide):
    """One end of a link: handshake, keepalive, calls both ways, streams, budgets.

    ``Peer(transport, options, service)``: ``service`` (optional) answers the peer's calls;
    without one every call is answered ``UnknownProcedure``. :meth:`start` sends the first
    Hello and starts the reader and timer threads; it runs until :meth:`close` or until the
    link closes. The client modules make calls with :meth:`start_call` and friends.
    """


__all__ = ["Peer", "Options", "Budget", "OutCall", "InCall", "PENDING", "HANDSHAKING", "ESTABLISHED", "CLOSED"]
