//! Streams and callbacks in the blocking flavour: [`CallStream`] (a stream this side
//! opened: an iterator over the server's items, and a sender of its own), [`TypedStream`]
//! (the same with a procedure's types), and [`Request`] (what a [`Handler`] serving a
//! stream or calling back into its caller gets).
//!
//! [`Handler`]: super::Handler

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wirecall::{Open, Procedure, StreamMode, StreamProcedure, WireError};

use super::client::Client;
use super::conn::{Conn, Started, Target};
use super::objects::Object;
use super::session::{CallOutcome, ClientError, Ticket};
use super::slot::{Popped, StreamSlot};

impl Client {
    /// Opens a stream of `mode` on `procedure`: returns once the request is sent. Iterate
    /// over the server's items (each one taken grants the server credit for another);
    /// [`send`](CallStream::send) the caller's. Without `timeout` the stream has no
    /// deadline: it lasts until it ends, is cancelled (dropping the `CallStream` cancels
    /// it), or nothing moves on it for the configured idle timeout.
    ///
    /// ```
    /// # use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
    /// # wirecall::service! {
    /// #     pub mod demo {
    /// #         5 => Count: fn count(n: u32) -> stream u32;
    /// #     }
    /// # }
    /// # struct Demo;
    /// # impl demo::HostHandler for Demo {
    /// #     fn count(&self, items: &mut dyn wirecall::StreamItems<(), u32>, n: u32) -> Result<(), wirecall::WireError> {
    /// #         (0..n).try_for_each(|i| items.feed(&i))
    /// #     }
    /// # }
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// # let server = serve_tcp(listener, demo::serve(Demo), ServeOptions::default())?;
    /// use wirecall::StreamMode;
    /// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
    /// // The demo service's `count` (procedure 5): the items 0..1000, one by one.
    /// let args = postcard::to_allocvec(&1000u32)?;
    /// let mut expected = 0u32;
    /// for item in client.open_stream(5, &args, StreamMode::ServerStream, None)? {
    ///     let n: u32 = postcard::from_bytes(&item?)?;
    ///     assert_eq!(n, expected);
    ///     expected += 1;
    /// }
    /// assert_eq!(expected, 1000);
    /// # drop(client);
    /// # server.stop();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_stream(
        &self,
        procedure: u32,
        args: &[u8],
        mode: StreamMode,
        timeout: Option<Duration>,
    ) -> Result<CallStream, ClientError> {
        self.open_checked(None, procedure, args, mode, timeout)
    }

    /// [`open_stream`](Self::open_stream), in a session whose peer serves `schema` only
    /// (with `Some`; see [`call_checked`](Self::call_checked)).
    pub fn open_checked(
        &self,
        schema: Option<u32>,
        procedure: u32,
        args: &[u8],
        mode: StreamMode,
        timeout: Option<Duration>,
    ) -> Result<CallStream, ClientError> {
        let mut how = Open::stream(mode);
        how.timeout = timeout.map(super::to_core);
        let start_within = timeout.unwrap_or(super::from_core(self.conn().call_timeout()));
        let (started, slot) =
            self.conn()
                .open_stream(schema, procedure, args, how, start_within)?;
        Ok(CallStream {
            client: self.clone(),
            started: Some(started),
            slot,
            mode,
            outcome: None,
            error_told: false,
            items_ended: false,
            unreported: 0,
            report_every: self.conn().report_every(),
        })
    }

    /// Opens stream procedure `P` with typed arguments: its items and result typed too.
    /// Unlike the methods of a generated `Client`, it does not check the peer's schema
    /// first (see [`call_typed`](Self::call_typed)).
    pub fn stream_typed<P: StreamProcedure>(
        &self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<TypedStream<P>, ClientError> {
        self.open_typed(None, args, timeout)
    }

    /// [`stream_typed`](Self::stream_typed), in a session whose peer serves `schema` only.
    pub(crate) fn open_typed<P: StreamProcedure>(
        &self,
        schema: Option<u32>,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<TypedStream<P>, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        Ok(TypedStream {
            inner: self.open_checked(schema, P::ID, &bytes, P::MODE, timeout)?,
            _p: PhantomData,
        })
    }
}

/// A stream this side opened ([`Client::open_stream`]). As an iterator it yields the
/// server's items in order, then, if the stream failed, one `Err`; the server's final
/// answer is [`finish`](Self::finish)'s. Dropping it before the end cancels the stream
/// (the server is told).
///
/// Items and answers are encoded bytes (a [`TypedStream`] decodes them): the way to speak
/// to a service without its declaration. Here a client stream and a two-way one:
///
/// ```
/// use wirecall::{StreamItems, StreamMode, WireError};
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod text {
///         /// Counts the bytes of the lines it is sent.
///         0 => Measure: fn measure(stream String) -> u64;
///         /// Sends each line back in upper case.
///         1 => Shout: fn shout(stream String) -> stream String;
///     }
/// }
/// struct Text;
/// impl text::HostHandler for Text {
///     fn measure(&self, lines: &mut dyn StreamItems<String, ()>) -> Result<u64, WireError> {
///         let mut total = 0;
///         while let Some(line) = lines.recv() {
///             total += line?.len() as u64;
///         }
///         Ok(total)
///     }
///     fn shout(&self, lines: &mut dyn StreamItems<String, String>) -> Result<(), WireError> {
///         while let Some(line) = lines.recv() {
///             lines.send(&line?.to_uppercase())?;
///         }
///         Ok(())
///     }
/// }
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, text::serve(Text), ServeOptions::default())?;
/// let client = Client::connect(move || Link::tcp(addr), ClientOptions::default())?;
///
/// // A client stream: many items in, one answer.
/// let mut measure = client.open_stream(0, &[], StreamMode::ClientStream, None)?;
/// for line in ["one", "two", "three"] {
///     measure.send(&postcard::to_allocvec(line)?)?; // waits for credit
/// }
/// let total: u64 = postcard::from_bytes(&measure.finish()?)?; // ends the items, then waits
/// assert_eq!(total, 11);
///
/// // Both ways: take each answer before sending on.
/// let mut shout = client.open_stream(1, &[], StreamMode::Bidi, None)?;
/// for line in ["hi", "there"] {
///     shout.send(&postcard::to_allocvec(line)?)?;
///     let back: String = postcard::from_bytes(&shout.next_item().ok_or("ended")?)?;
///     assert_eq!(back, line.to_uppercase());
/// }
/// shout.end_items()?;
/// assert_eq!(shout.finish()?, b""); // a `()` answer is no bytes
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a stream cancels it"]
pub struct CallStream {
    client: Client,
    started: Option<Started>,
    slot: Arc<StreamSlot>,
    mode: StreamMode,
    /// The call's outcome, once the items are over.
    outcome: Option<CallOutcome>,
    /// The iterator yielded the error that ended the stream (it yields it once).
    error_told: bool,
    /// This side's items were ended.
    items_ended: bool,
    /// Items taken and not yet reported to the endpoint (see `Conn::next_item`).
    unreported: u32,
    /// How many are reported at once.
    report_every: u32,
}

impl CallStream {
    /// A handle that cancels this stream from another thread or task: a thread waiting in
    /// [`next_item`](Self::next_item) then sees the items end, and the outcome is
    /// `Err(Cancelled)`.
    pub fn canceller(&self) -> super::CallCanceller {
        super::CallCanceller::of(self.client.conn(), self.started.as_ref())
    }

    /// Which way items flow.
    pub fn mode(&self) -> StreamMode {
        self.mode
    }

    /// The server's next item; `None` once its items are over (then
    /// [`finish`](Self::finish) has the answer, or the error that ended the stream).
    pub fn next_item(&mut self) -> Option<Vec<u8>> {
        let started = self.started.as_ref()?;
        let item = self.client.conn().next_item(
            started,
            &self.slot,
            &mut self.unreported,
            self.report_every,
        );
        if item.is_none() && self.outcome.is_none() {
            self.outcome = Some(self.client.conn().finish(started));
        }
        item
    }

    /// The server's next item if one has arrived, without waiting: a thread that sends on a
    /// two-way stream takes what came back between its sends, so that the server's items
    /// never fill the window while this side waits for credit (the server would then wait
    /// for this side's credit, and both would wait). `None` if no item is there now (or
    /// none will come: [`next_item`](Self::next_item) tells which).
    pub fn try_next_item(&mut self) -> Option<Vec<u8>> {
        let started = self.started.as_ref()?;
        match self.slot.pop() {
            Popped::Item(item) => {
                self.unreported += 1;
                if self.unreported >= self.report_every {
                    self.client
                        .conn()
                        .report_consumed(started, &mut self.unreported);
                }
                Some(item)
            }
            Popped::Empty | Popped::Over => None,
        }
    }

    /// Sends one item to the server (a client or bidirectional stream), waiting for
    /// credit while the server has not consumed enough, and writes it at once.
    pub fn send(&mut self, item: &[u8]) -> Result<(), ClientError> {
        self.put(item, true)
    }

    /// [`send`](Self::send) without writing at once: the item waits in the transmit queue
    /// until the queue is full, this thread waits for credit or an item,
    /// [`flush`](Self::flush), [`end_items`](Self::end_items) or
    /// [`finish`](Self::finish). Many small items then share one write.
    pub fn feed(&mut self, item: &[u8]) -> Result<(), ClientError> {
        self.put(item, false)
    }

    /// Writes the items fed and not yet written.
    pub fn flush(&mut self) {
        self.client.conn().flush_items();
    }

    fn put(&mut self, item: &[u8], write: bool) -> Result<(), ClientError> {
        let started = self.started.as_ref().ok_or(ClientError::StreamEnded)?;
        // Items taken are reported before this thread may wait for credit (the peer may
        // need that credit before it reads what this side sends).
        self.client
            .conn()
            .report_consumed(started, &mut self.unreported);
        self.client.conn().send_item(
            Target::Call(started.id),
            &self.slot,
            item,
            started.deadline(),
            write,
        )
    }

    /// Tells the server this side's items are over.
    pub fn end_items(&mut self) -> Result<(), ClientError> {
        let started = self.started.as_ref().ok_or(ClientError::StreamEnded)?;
        self.client.conn().end_items(started.id)?;
        self.items_ended = true;
        Ok(())
    }

    /// Waits for the server's answer, taking (and dropping) any items still coming. This
    /// side's items are ended first if they were not.
    pub fn finish(mut self) -> CallOutcome {
        if self.mode.caller_sends() && !self.items_ended && self.outcome.is_none() {
            let _ = self.end_items(); // an error here shows in the outcome
        }
        while self.next_item().is_some() {}
        self.started = None;
        self.outcome.take().unwrap_or(Err(ClientError::StreamEnded))
    }

    /// Cancels the stream (the server is told); what the drop does.
    pub fn cancel(self) {}
}

impl Iterator for CallStream {
    type Item = Result<Vec<u8>, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.next_item() {
            return Some(Ok(item));
        }
        // Once: the error that ended the stream (it stays for `finish`, as a success does).
        match &self.outcome {
            Some(Err(e)) if !self.error_told => {
                self.error_told = true;
                Some(Err(e.clone()))
            }
            _ => None,
        }
    }
}

impl Drop for CallStream {
    fn drop(&mut self) {
        if let Some(started) = self.started.take() {
            if self.outcome.is_none() {
                self.client.conn().abandon(&started);
            }
        }
    }
}

/// A [`CallStream`] of stream procedure `P`: items and answer decoded as its types. A
/// generated `Client`'s stream methods return one.
///
/// ```
/// use wirecall::{StreamItems, WireError};
/// use wirecall_adapters::host::{serve_tcp, Client, ClientOptions, Link, ServeOptions};
///
/// wirecall::service! {
///     pub mod sensor {
///         /// `count` readings (a server stream).
///         0 => Sample: fn sample(count: u32) -> stream i32;
///         /// The mean of the readings it is sent (a client stream).
///         1 => Mean: fn mean(stream i32) -> i32;
///     }
/// }
/// struct Sensor;
/// impl sensor::HostHandler for Sensor {
///     fn sample(&self, out: &mut dyn StreamItems<(), i32>, count: u32) -> Result<(), WireError> {
///         for i in 0..count as i32 {
///             out.send(&(20 + i % 3))?;
///         }
///         Ok(())
///     }
///     fn mean(&self, readings: &mut dyn StreamItems<i32, ()>) -> Result<i32, WireError> {
///         let (mut sum, mut n) = (0, 0);
///         while let Some(r) = readings.recv() {
///             (sum, n) = (sum + r?, n + 1);
///         }
///         sum.checked_div(n).ok_or(WireError::BadArguments)
///     }
/// }
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = serve_tcp(listener, sensor::serve(Sensor), ServeOptions::default())?;
/// let client = sensor::Client::new(Client::connect(move || Link::tcp(addr), ClientOptions::default())?);
///
/// // An iterator over the readings, typed.
/// let readings: Vec<i32> = client.sample(6)?.collect::<Result<_, _>>()?;
/// assert_eq!(readings, [20, 21, 22, 20, 21, 22]);
/// // Sent back, typed, for one typed answer.
/// let mut mean = client.mean()?;
/// for r in &readings {
///     mean.send(r)?;
/// }
/// mean.end_items()?;
/// assert_eq!(mean.finish()?, 21);
/// drop(client);
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a stream cancels it"]
pub struct TypedStream<P: StreamProcedure> {
    inner: CallStream,
    _p: PhantomData<fn() -> P>,
}

impl<P: StreamProcedure> TypedStream<P> {
    /// Sends one of the caller's items (waiting for credit).
    pub fn send(&mut self, item: &P::InItem) -> Result<(), ClientError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| ClientError::TooLarge)?;
        self.inner.send(&bytes)
    }

    /// Tells the server the caller's items are over.
    pub fn end_items(&mut self) -> Result<(), ClientError> {
        self.inner.end_items()
    }

    /// Waits for the server's answer (dropping items still coming).
    pub fn finish(self) -> Result<P::Output, ClientError> {
        let out = self.inner.finish()?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }
}

impl<P: StreamProcedure> Iterator for TypedStream<P> {
    type Item = Result<P::Item, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.inner
                .next()?
                .and_then(|b| P::decode_item(&b).map_err(|_| ClientError::Decode)),
        )
    }
}

/// A request being served, as a [`Handler`](super::Handler)'s
/// [`serve`](super::Handler::serve) gets it: its procedure and arguments, and for a stream
/// its items both ways; any request may call back into its caller.
///
/// ```
/// use wirecall::{StreamMode, WireError};
/// use wirecall_adapters::host::{Handler, Request};
///
/// /// Procedure 5 yields 0..n (a server stream), reporting progress to the caller's
/// /// procedure 9 halfway (a callback).
/// struct Counter;
/// impl Handler for Counter {
///     fn handle(&self, _: u32, _: &[u8]) -> Result<Vec<u8>, (WireError, String)> {
///         Err((WireError::UnknownProcedure, String::new()))
///     }
///     fn serve(&self, r: &mut Request<'_>) -> Result<Vec<u8>, (WireError, String)> {
///         let n: u32 = postcard::from_bytes(r.args()).map_err(|_| (WireError::BadArguments, String::new()))?;
///         for i in 0..n {
///             if i == n / 2 {
///                 let _ = r.call(9, &[50], None);
///             }
///             r.send(&postcard::to_allocvec(&i).unwrap())
///                 .map_err(|e| (WireError::Cancelled, e.to_string()))?;
///         }
///         Ok(vec![])
///     }
/// }
/// ```
pub struct Request<'a> {
    conn: &'a Conn,
    ticket: Ticket,
    procedure: u32,
    args: &'a [u8],
    stream: Option<(StreamMode, Arc<StreamSlot>)>,
    /// `recv` returned its last.
    recv_over: bool,
    /// The object a method call is made on, and its interface.
    target: Option<(Object, u8)>,
    /// The object to export as the answer, and its interface.
    pub(crate) exported: Option<(Object, u8)>,
    /// Withdraw the target after the answer, for this code and reason.
    pub(crate) revoke: Option<(WireError, String)>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(
        conn: &'a Conn,
        ticket: Ticket,
        procedure: u32,
        args: &'a [u8],
        stream: Option<(StreamMode, Arc<StreamSlot>)>,
    ) -> Request<'a> {
        Request {
            conn,
            ticket,
            procedure,
            args,
            stream,
            recv_over: false,
            target: None,
            exported: None,
            revoke: None,
        }
    }

    /// A method call on `object` of `interface`.
    pub(crate) fn on(mut self, target: Option<(Object, u8)>) -> Self {
        self.target = target;
        self
    }

    /// For a method call on an object this side exported: the object and the interface
    /// it was exported as (`procedure` is then the method's number in that interface).
    /// `None` for a call of a procedure.
    pub fn target(&self) -> Option<(&(dyn Any + Send + Sync), u8)> {
        self.target.as_ref().map(|(o, i)| (&**o, *i))
    }

    /// Answers with a new object instead of a result: the caller gets a handle to it, and
    /// its method calls come back with it as [`target`](Self::target) until the caller
    /// releases it or the session ends. Return `Ok` with any bytes (they are not sent).
    /// The handler must say it [`exports`](super::Handler::exports).
    pub fn export(&mut self, object: Arc<dyn Any + Send + Sync>, interface: u8) {
        self.exported = Some((object, interface));
    }

    /// `Err` with the answer to give if the export table is full now (a procedure that
    /// would export an object answers it without making the object).
    pub fn export_room(&self) -> Result<(), (WireError, String)> {
        self.conn.export_room()
    }

    /// For a method call: withdraws the object it is made on, once the call is answered.
    /// The holder is told at once (with `code`, `Revoked` for instance, and `reason`), and
    /// later calls on the handle fail with `StaleHandle`.
    pub fn revoke_target(&mut self, code: WireError, reason: &str) {
        if self.target.is_some() {
            self.revoke = Some((code, reason.to_string()));
        }
    }

    /// The procedure called.
    pub fn procedure(&self) -> u32 {
        self.procedure
    }

    /// The encoded arguments.
    pub fn args(&self) -> &[u8] {
        self.args
    }

    /// The encoded arguments, for as long as the request lives (not tied to a borrow of
    /// it: a typed handler decodes them and moves items through the request at once).
    pub(crate) fn args_ref(&self) -> &'a [u8] {
        self.args
    }

    /// Which way items flow (`Call` for a plain request).
    pub fn mode(&self) -> StreamMode {
        self.stream.as_ref().map_or(StreamMode::Call, |(m, _)| *m)
    }

    /// Sends one item to the caller (a server or bidirectional stream), waiting for credit
    /// while the caller has not consumed enough, and writes it at once. `Err(StreamEnded)`
    /// once the caller cancelled, the stream expired or the link went: stop producing.
    pub fn send(&mut self, item: &[u8]) -> Result<(), ClientError> {
        self.put(item, true)
    }

    /// [`send`](Self::send) without writing at once: the item waits in the transmit queue
    /// until the queue is full, this thread waits for credit or an item,
    /// [`flush`](Self::flush), or the handler returns. A producer of many items feeds
    /// them, so that they share writes; one that produces now and then sends.
    pub fn feed(&mut self, item: &[u8]) -> Result<(), ClientError> {
        self.put(item, false)
    }

    /// Writes the items fed and not yet written.
    pub fn flush(&mut self) {
        self.conn.flush_items();
    }

    fn put(&mut self, item: &[u8], write: bool) -> Result<(), ClientError> {
        let Some((mode, slot)) = &self.stream else {
            return Err(ClientError::StreamEnded);
        };
        if !mode.server_sends() {
            return Err(ClientError::StreamEnded);
        }
        let far = Instant::now() + super::FAR_FUTURE;
        self.conn
            .send_item(Target::Request(&self.ticket), slot, item, far, write)
    }

    /// Sends one typed item of stream procedure `P` (written at once).
    pub fn send_typed<P: StreamProcedure>(&mut self, item: &P::Item) -> Result<(), ClientError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| ClientError::TooLarge)?;
        self.send(&bytes)
    }

    /// Feeds one typed item of stream procedure `P` (see [`feed`](Self::feed)).
    pub fn feed_typed<P: StreamProcedure>(&mut self, item: &P::Item) -> Result<(), ClientError> {
        let bytes = postcard::to_allocvec(item).map_err(|_| ClientError::TooLarge)?;
        self.feed(&bytes)
    }

    /// The caller's next item (a client or bidirectional stream); `None` once the caller
    /// ended its items. If the stream ended before that (the caller cancelled it, an item
    /// was lost, it expired, the link went), one `Err(StreamEnded)` comes instead: the
    /// items received are then not all the caller sent.
    pub fn recv(&mut self) -> Option<Result<Vec<u8>, ClientError>> {
        let (mode, slot) = self.stream.as_ref()?;
        if !mode.caller_sends() || self.recv_over {
            return None;
        }
        match self.conn.next_request_item(&self.ticket, slot) {
            Some(item) => Some(Ok(item)),
            None => {
                self.recv_over = true;
                slot.broken().then_some(Err(ClientError::StreamEnded))
            }
        }
    }

    /// The caller's next item decoded as stream procedure `P`'s (see [`recv`](Self::recv);
    /// an item that does not decode is `Err(Decode)`).
    pub fn recv_typed<P: StreamProcedure>(&mut self) -> Option<Result<P::InItem, ClientError>> {
        Some(
            self.recv()?
                .and_then(|b| P::decode_in_item(&b).map_err(|_| ClientError::Decode)),
        )
    }

    /// Calls `procedure` on the caller while serving its request (a callback: a progress
    /// report, a question to the user). It is one level deeper than this request; past
    /// either side's depth limit it fails with `TooDeep`. `timeout` defaults to the
    /// configured call timeout.
    pub fn call(&mut self, procedure: u32, args: &[u8], timeout: Option<Duration>) -> CallOutcome {
        let timeout = timeout.unwrap_or_else(|| super::from_core(self.conn.call_timeout()));
        self.conn
            .call_nested(&self.ticket, procedure, args, timeout)
    }

    /// [`call`](Self::call) with procedure `P`'s types.
    pub fn call_typed<P: Procedure>(
        &mut self,
        args: &P::Args<'_>,
        timeout: Option<Duration>,
    ) -> Result<P::Output, ClientError> {
        let bytes = postcard::to_allocvec(args).map_err(|_| ClientError::TooLarge)?;
        let out = self.call(P::ID, &bytes, timeout)?;
        P::output(&out).map_err(|_| ClientError::Decode)
    }
}
