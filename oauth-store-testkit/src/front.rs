//! The public listener: relays each connection to the inner `tiny_http` server.
//!
//! `tiny_http` offers no way to close a connection without answering, nor to end open
//! keep-alive connections when the server stops. The relay keeps both ends of every
//! connection, keyed by the address `tiny_http` reports as the request's peer, so
//! [`Fault::Unreachable`](crate::Fault::Unreachable) and shutdown can cut them.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::endpoint::lock;

/// Both ends of one relayed connection.
struct Ends {
    client: TcpStream,
    upstream: TcpStream,
}

impl Ends {
    fn cut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

/// The open connections, keyed by the relay's local address towards `tiny_http`.
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<SocketAddr, Ends>>,
    stopping: AtomicBool,
}

impl Connections {
    /// Closes the connection `tiny_http` sees as coming from `peer`, unanswered.
    pub(crate) fn cut(&self, peer: SocketAddr) {
        if let Some(ends) = lock(&self.open).remove(&peer) {
            ends.cut();
        }
    }

    fn cut_all(&self) {
        for (_, ends) in lock(&self.open).drain() {
            ends.cut();
        }
    }
}

/// The listening relay; dropping it closes the listener and every open connection.
pub(crate) struct Front {
    addr: SocketAddr,
    connections: Arc<Connections>,
    acceptor: Option<JoinHandle<()>>,
}

impl Front {
    /// Listens on 127.0.0.1 at a port the OS picks and relays to `inner`.
    pub(crate) fn start(inner: SocketAddr) -> io::Result<Front> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(Connections::default());
        let shared = Arc::clone(&connections);
        let acceptor = thread::Builder::new()
            .name("oauth-testkit-accept".into())
            .spawn(move || accept_loop(&listener, inner, &shared))?;
        Ok(Front {
            addr,
            connections,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.connections.stopping.store(true, Ordering::SeqCst);
        // accept() has no timeout: a connection of our own wakes it to see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, inner: SocketAddr, connections: &Arc<Connections>) {
    let mut relays: Vec<JoinHandle<()>> = Vec::new();
    for client in listener.incoming() {
        if connections.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else {
            // Out of descriptors or similar: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        relays.retain(|relay| !relay.is_finished());
        // On failure the client is dropped, which closes it: the same as an unreachable peer.
        if let Ok(relay) = start_relay(client, inner, connections) {
            relays.push(relay);
        }
    }
    connections.cut_all();
    for relay in relays {
        let _ = relay.join();
    }
}

fn start_relay(
    client: TcpStream,
    inner: SocketAddr,
    connections: &Arc<Connections>,
) -> io::Result<JoinHandle<()>> {
    let upstream = TcpStream::connect(inner)?;
    // Requests and answers are small; Nagle plus delayed ACKs would add 40 ms per hop.
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let key = upstream.local_addr()?;
    let ends = Ends {
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
    };
    // Registered before the first byte is relayed, so a handler can always find it.
    lock(&connections.open).insert(key, ends);
    let shared = Arc::clone(connections);
    let spawned = thread::Builder::new()
        .name("oauth-testkit-relay".into())
        .spawn(move || {
            relay(&client, &upstream);
            lock(&shared.open).remove(&key);
        });
    if spawned.is_err() {
        connections.cut(key);
    }
    spawned
}

/// Copies both ways until each side has finished sending, passing on each half-close.
fn relay(client: &TcpStream, upstream: &TcpStream) {
    thread::scope(|scope| {
        scope.spawn(|| {
            let _ = io::copy(&mut &*client, &mut &*upstream);
            let _ = upstream.shutdown(Shutdown::Write);
        });
        let _ = io::copy(&mut &*upstream, &mut &*client);
        let _ = client.shutdown(Shutdown::Write);
    });
}
