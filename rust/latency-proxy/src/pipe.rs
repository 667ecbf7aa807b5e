//! The delayed forwarding of one connection. Each direction is a reader
//! thread that stamps every chunk it reads with a due time (read time +
//! delay) and queues it, and a writer thread that sends each queued chunk at
//! its due time. The delay is latency, not a throughput limit: a chunk read
//! while earlier ones wait is due at its own read time + delay, so pipelined
//! requests stay pipelined. Order is kept because due times only grow.
//!
//! Closing: a clean end of stream is passed on as a half-close (shutdown of
//! the write side) once everything queued before it is delivered, so a
//! request sent just before the client's FIN still gets its answer. A read
//! error (reset) is passed on, delayed the same way, as a full shutdown of
//! both sockets; so is a failed write, at once. The sockets are closed when
//! both directions are done.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Stack of the proxy's threads: they hold little (the read buffer is on
/// the heap), and there are four per connection.
pub const STACK_SIZE: usize = 128 * 1024;

/// Bytes read at most per chunk.
const READ_BUF: usize = 16 * 1024;

/// Chunks queued per direction before the reader waits (at most
/// `QUEUE * READ_BUF` = 16 MiB in flight per direction). Only a sender
/// outpacing the queue at the configured delay would ever fill it.
const QUEUE: usize = 1024;

/// How long to hold chunks, and how precisely.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// One-way delay added to every chunk.
    pub delay: Duration,
    /// Longest busy-wait before a delivery.
    pub spin: Duration,
}

/// What a reader hands its writer.
enum Item {
    Data {
        due: Instant,
        bytes: Vec<u8>,
    },
    /// The source failed (e.g. was reset): cut the destination too.
    Reset {
        due: Instant,
    },
}

/// Forwards `client` ⇄ `server` with the delay until both directions have
/// ended. An error means a thread could not be started; both sockets are
/// then shut down.
pub fn forward_both(client: TcpStream, server: TcpStream, timing: Timing) -> io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let mut threads = Vec::with_capacity(3);
    let result = start(&client, &server, timing, &mut threads);
    if result.is_err() {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    }
    for t in threads {
        let _ = t.join();
    }
    result
}

/// Starts the two writers and the client reader, then reads the server on
/// the calling thread until it ends.
fn start(
    client: &TcpStream,
    server: &TcpStream,
    timing: Timing,
    threads: &mut Vec<JoinHandle<()>>,
) -> io::Result<()> {
    let (up_tx, up_rx) = sync_channel(QUEUE);
    let (down_tx, down_rx) = sync_channel(QUEUE);
    let (dst, src) = (server.try_clone()?, client.try_clone()?);
    threads.push(spawn("to-upstream", move || {
        deliver(up_rx, dst, src, timing.spin)
    })?);
    let (dst, src) = (client.try_clone()?, server.try_clone()?);
    threads.push(spawn("to-client", move || {
        deliver(down_rx, dst, src, timing.spin)
    })?);
    let src = client.try_clone()?;
    threads.push(spawn("from-client", move || {
        read_chunks(src, up_tx, timing.delay)
    })?);
    read_chunks(server.try_clone()?, down_tx, timing.delay);
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(STACK_SIZE)
        .spawn(f)
}

/// Reads `src` until it ends, queueing each chunk with its due time.
fn read_chunks(mut src: TcpStream, queue: SyncSender<Item>, delay: Duration) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match src.read(&mut buf) {
            Ok(0) => return, // dropping the sender tells the writer
            Ok(n) => {
                let due = Instant::now() + delay;
                let bytes = buf.get(..n).unwrap_or(&buf).to_vec();
                if queue.send(Item::Data { due, bytes }).is_err() {
                    return; // the writer gave up
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("read failed: {e}");
                let _ = queue.send(Item::Reset {
                    due: Instant::now() + delay,
                });
                return;
            }
        }
    }
}

/// Writes each queued chunk to `dst` at its due time; `src` is the socket
/// the chunks come from, shut down if `dst` fails so its reader stops too.
fn deliver(queue: Receiver<Item>, mut dst: TcpStream, src: TcpStream, spin: Duration) {
    let cut = |dst: &TcpStream| {
        let _ = dst.shutdown(Shutdown::Both);
        let _ = src.shutdown(Shutdown::Both);
    };
    for item in queue {
        match item {
            Item::Data { due, bytes } => {
                wait_until(due, spin);
                if let Err(e) = dst.write_all(&bytes) {
                    tracing::debug!("write failed: {e}");
                    return cut(&dst);
                }
            }
            Item::Reset { due } => {
                wait_until(due, spin);
                return cut(&dst);
            }
        }
    }
    // Clean end of the source, everything delivered: pass the FIN on.
    let _ = dst.shutdown(Shutdown::Write);
}

/// Returns at `deadline` or just after: sleeps until `spin` before it, then
/// busy-waits the rest (never more than `spin`).
fn wait_until(deadline: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            return;
        };
        if left > spin {
            std::thread::sleep(left - spin);
        } else {
            while Instant::now() < deadline {
                std::hint::spin_loop();
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_is_never_early() {
        for us in [0, 5, 50, 300] {
            let deadline = Instant::now() + Duration::from_micros(us);
            wait_until(deadline, Duration::from_micros(20));
            assert!(Instant::now() >= deadline);
        }
    }

    #[test]
    fn wait_until_without_spin_is_never_early() {
        let deadline = Instant::now() + Duration::from_micros(200);
        wait_until(deadline, Duration::ZERO);
        assert!(Instant::now() >= deadline);
    }
}
