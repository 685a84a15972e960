//! A TCP proxy on 127.0.0.1 that the test controls: it forwards bytes to a target
//! until it is frozen, then holds them, as a database server stopped with SIGSTOP
//! would (the connection stays open, nothing answers).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// A running proxy.
pub struct Proxy {
    pub port: u16,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `target_port`.
    pub fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let accept_frozen = Arc::clone(&frozen);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                pump(&client, &server, &accept_frozen);
                pump(&server, &client, &accept_frozen);
            }
        });
        Proxy { port, frozen }
    }

    /// From now on, nothing is forwarded in either direction.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

fn pump(from: &TcpStream, to: &TcpStream, frozen: &Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let frozen = Arc::clone(frozen);
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if frozen.load(Ordering::SeqCst) {
                // Hold everything from now on: keep reading, forward nothing.
                continue;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
