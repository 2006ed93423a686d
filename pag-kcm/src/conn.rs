//! One client connection: reading one bounded request at a time, and
//! writing its reply, never blocking (the socket is non-blocking and the
//! server polls).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::identity::Client;
use crate::proto::frame::{self, FrameError, PREFIX};

/// Bytes read per read(2): a request arrives in pieces of at most this.
const CHUNK: usize = 64 << 10;

/// What a read step produced.
pub enum Step {
    /// Nothing complete yet.
    Waiting,
    /// A complete request body (prefix removed).
    Request(Vec<u8>),
    /// Close the connection: the peer closed, failed, or broke the framing.
    Close(Option<FrameError>),
}

pub struct Conn {
    pub stream: UnixStream,
    pub client: Client,
    /// The request being read: its prefix, then its body.
    input: Vec<u8>,
    /// The body length, once the prefix is in.
    body: Option<usize>,
    /// A reply not yet written in full, and how much of it was.
    output: Vec<u8>,
    written: usize,
    /// When the last byte moved either way.
    pub last_activity: Instant,
    /// When the request being read, or the reply being written, began.
    pub busy_since: Option<Instant>,
}

impl Conn {
    pub fn new(stream: UnixStream, client: Client) -> Self {
        Conn {
            stream,
            client,
            input: Vec::new(),
            body: None,
            output: Vec::new(),
            written: 0,
            last_activity: Instant::now(),
            busy_since: None,
        }
    }

    /// A reply is waiting to be written: read nothing more meanwhile.
    pub fn writing(&self) -> bool {
        self.written < self.output.len()
    }

    /// When the connection is to be closed if nothing happens.
    pub fn deadline(&self, idle: Duration, request: Duration) -> Instant {
        match self.busy_since {
            Some(since) => since + request,
            None => self.last_activity + idle,
        }
    }

    /// Read what is there, never more than the current request needs.
    pub fn read(&mut self, max_body: usize) -> Step {
        let mut chunk = [0u8; CHUNK];
        loop {
            let want = match self.body {
                None => PREFIX - self.input.len(),
                Some(len) => PREFIX + len - self.input.len(),
            };
            if want == 0 {
                let body = self.input.split_off(PREFIX);
                self.input.clear();
                self.body = None;
                return Step::Request(body);
            }
            match self.stream.read(&mut chunk[..want.min(CHUNK)]) {
                Ok(0) => return Step::Close(None),
                Ok(n) => {
                    self.last_activity = Instant::now();
                    self.busy_since.get_or_insert(self.last_activity);
                    self.input.extend_from_slice(&chunk[..n]);
                    if self.body.is_none() && self.input.len() == PREFIX {
                        let prefix = [self.input[0], self.input[1], self.input[2], self.input[3]];
                        match frame::body_length(prefix, max_body) {
                            Ok(len) => self.body = Some(len),
                            Err(e) => return Step::Close(Some(e)),
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Waiting,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close(None),
            }
        }
    }

    /// Queue `reply` and write what the socket takes now.
    pub fn reply(&mut self, reply: Vec<u8>) -> bool {
        self.output = reply;
        self.written = 0;
        self.flush()
    }

    /// Write more of the queued reply; `false` when the peer is gone.
    pub fn flush(&mut self) -> bool {
        while self.writing() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.written += n;
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        // Done: the buffer goes (a reply may have held credentials).
        self.output = Vec::new();
        self.written = 0;
        self.busy_since = if self.input.is_empty() { None } else { self.busy_since };
        true
    }
}
