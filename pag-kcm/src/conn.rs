//! One client connection: reading one bounded request at a time, and
//! writing its reply, never blocking (the socket is non-blocking and the
//! server polls).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use pag::peer::wire::{self, HELLO_LEN, RESPONSE_LEN};
use pag::peer::PendingChallenge;

use crate::identity::Client;
use crate::proto::frame::{self, FrameError, PREFIX};

/// Bytes read per read(2): a request arrives in pieces of at most this.
const CHUNK: usize = 64 << 10;

/// What a read step produced.
pub enum Step {
    /// Nothing complete yet.
    Waiting,
    /// A request's length prefix has come, announcing a body of this many
    /// bytes: the server admits it ([`Conn::take_body`]) or closes.
    Announced(usize),
    /// A complete request body (prefix removed).
    Request(Vec<u8>),
    /// The client sent the proof hello (first thing on the connection),
    /// with this version.
    Hello(u8),
    /// The client's answer to the challenge.
    Answer([u8; RESPONSE_LEN]),
    /// Close the connection: the peer closed, failed, or broke the framing.
    Close(Option<FrameError>),
}

/// What the bytes being read are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A request's length prefix (or, first on the connection, a hello).
    Prefix,
    /// A request body of this length.
    Body(usize),
    /// The rest of a hello.
    Hello,
    /// The answer to the challenge sent.
    Answer,
}

pub struct Conn {
    pub stream: UnixStream,
    pub client: Client,
    /// The request being read: its prefix, then its body.
    input: Vec<u8>,
    expect: Expect,
    /// Nothing but a hello may have come yet (a hello is only the first thing).
    fresh: bool,
    /// The challenge sent after a hello, until its answer.
    pub challenge: Option<PendingChallenge>,
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
            expect: Expect::Prefix,
            fresh: true,
            challenge: None,
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
            let total = match self.expect {
                Expect::Prefix => PREFIX,
                Expect::Body(len) => PREFIX + len,
                Expect::Hello => HELLO_LEN,
                Expect::Answer => RESPONSE_LEN,
            };
            if self.input.len() == total {
                if let Some(step) = self.complete(max_body) {
                    return step;
                }
                continue;
            }
            match self.stream.read(&mut chunk[..(total - self.input.len()).min(CHUNK)]) {
                Ok(0) => return Step::Close(None),
                Ok(n) => {
                    self.last_activity = Instant::now();
                    self.busy_since.get_or_insert(self.last_activity);
                    self.input.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Waiting,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close(None),
            }
        }
    }

    /// What the complete input means; `None`: read on (the body follows).
    fn complete(&mut self, max_body: usize) -> Option<Step> {
        match self.expect {
            Expect::Prefix if self.fresh && wire::is_hello_magic(&self.input) => {
                self.expect = Expect::Hello;
                None
            }
            Expect::Prefix => {
                let prefix = [self.input[0], self.input[1], self.input[2], self.input[3]];
                Some(match frame::body_length(prefix, max_body) {
                    Ok(len) => Step::Announced(len),
                    Err(e) => Step::Close(Some(e)),
                })
            }
            Expect::Body(_) => {
                self.fresh = false;
                let body = self.input.split_off(PREFIX);
                self.input.clear();
                self.expect = Expect::Prefix;
                Some(Step::Request(body))
            }
            Expect::Hello => {
                self.fresh = false;
                let version = self.input[4];
                self.input.clear();
                self.expect = Expect::Answer;
                Some(Step::Hello(version))
            }
            Expect::Answer => {
                let mut answer = [0u8; RESPONSE_LEN];
                answer.copy_from_slice(&self.input);
                self.input.clear();
                self.expect = Expect::Prefix;
                Some(Step::Answer(answer))
            }
        }
    }

    /// Read the body [`Step::Announced`] announced; its bytes are reserved
    /// now, so what [`Conn::held`] counts is what it will take.
    pub fn take_body(&mut self, len: usize) {
        self.expect = Expect::Body(len);
        self.input.reserve_exact(len);
    }

    /// Bytes this connection holds or has been admitted to hold: the
    /// request being read (in full once announced) and the part of a reply
    /// the client has not taken yet.
    pub fn held(&self) -> usize {
        let reading = match self.expect {
            Expect::Body(len) => PREFIX + len,
            _ => self.input.len(),
        };
        reading + (self.output.len() - self.written)
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
        // Still busy while a request is part-read or a challenge unanswered.
        if self.input.is_empty() && self.expect == Expect::Prefix {
            self.busy_since = None;
        }
        true
    }
}
