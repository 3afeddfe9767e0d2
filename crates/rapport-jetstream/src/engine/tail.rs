//! The live tail: one ordered consumer per node that brings every new message of the stream to
//! the node as it is stored, so that the follower (and a writer that lost a race) applies it
//! from memory instead of fetching it with a request (docs/design/cluster.md, "Nodes,
//! freshness and joining").
//!
//! The consumer only fills a bounded buffer by stream sequence ([`TAIL_BUFFER_BYTES_MAX`]) and
//! wakes the follower; every apply still goes through [`Shared::catch_up`], in sequence order
//! and with every check, and takes a message from the buffer when it is there and fetches it
//! otherwise. So the tail is only a cache: a consumer that falls behind, restarts, or delivers
//! twice changes how fast a node follows, never what it applies.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use async_nats::jetstream::{self, message::StreamMessage};

use super::{bounded, Shared};

/// Most payload bytes the tail buffer holds; the consumer waits while it is full (one message
/// larger than it is still taken alone).
pub(super) const TAIL_BUFFER_BYTES_MAX: usize = 64 << 20;

/// Messages by stream sequence, not yet applied.
#[derive(Default)]
pub(super) struct TailBuffer {
    messages: BTreeMap<u64, StreamMessage>,
    bytes: usize,
}

impl TailBuffer {
    /// Takes message `sequence` if the tail brought it; drops what is below it.
    pub(super) fn take(&mut self, sequence: u64) -> Option<StreamMessage> {
        self.discard_below(sequence);
        let message = self.messages.remove(&sequence)?;
        self.bytes = self.bytes.saturating_sub(message.payload.len());
        Some(message)
    }

    fn discard_below(&mut self, sequence: u64) {
        while let Some(entry) = self.messages.first_entry() {
            if *entry.key() >= sequence {
                break;
            }
            let message = entry.remove();
            self.bytes = self.bytes.saturating_sub(message.payload.len());
        }
    }
}

impl Shared {
    /// Message `sequence` from the tail buffer, if it is there.
    pub(super) fn take_from_tail(&self, sequence: u64) -> Option<StreamMessage> {
        self.tail.lock().take(sequence)
    }
}

/// Runs the node's ordered consumer from the message after the applied one, until the engine
/// closes; a consumer that fails is made again from the applied message on.
pub(super) async fn follow(shared: Weak<Shared>) {
    use futures_util::StreamExt;
    loop {
        let Some(node) = shared.upgrade() else { return };
        if node.is_closed() {
            return;
        }
        let start = node.applied_seq.load(std::sync::atomic::Ordering::Acquire) + 1;
        let timeout = node.request_timeout;
        let consumer = async {
            let stream = node.context.get_stream_no_info(&node.stream).await.ok()?;
            let config = jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
                ..Default::default()
            };
            let consumer = stream.create_consumer(config).await.ok()?;
            consumer.messages().await.ok()
        };
        let messages = bounded(timeout, "starting the tail consumer", consumer).await.ok().flatten();
        drop(node);
        let Some(mut messages) = messages else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let next = tokio::time::timeout(Duration::from_millis(500), messages.next()).await;
            let Some(node) = shared.upgrade() else { return };
            if node.is_closed() {
                return;
            }
            let message = match next {
                // Quiet: nothing stored meanwhile.
                Err(_) => continue,
                Ok(Some(Ok(message))) => message,
                // The consumer failed or ended: make a new one.
                Ok(Some(Err(_)) | None) => break,
            };
            let Ok(info) = message.info() else { break };
            let (sequence, published) = (info.stream_sequence, info.published);
            let message = message.message;
            let Some(headers) = message.headers else { continue };
            let message = StreamMessage {
                subject: message.subject,
                sequence,
                headers,
                payload: message.payload,
                time: published,
            };
            // Wait while the buffer is full (the follower drains it), unless the message is
            // applied already.
            let mut message = Some(message);
            while let Some(pending) = message.take() {
                if node.applied_seq.load(std::sync::atomic::Ordering::Acquire) >= sequence {
                    break;
                }
                let refused = {
                    let mut tail = node.tail.lock();
                    if tail.bytes == 0 || tail.bytes + pending.payload.len() <= TAIL_BUFFER_BYTES_MAX {
                        tail.bytes += pending.payload.len();
                        tail.messages.insert(sequence, pending);
                        None
                    } else {
                        Some(pending)
                    }
                };
                let Some(pending) = refused else { break };
                message = Some(pending);
                node.wake_follower();
                tokio::time::sleep(Duration::from_millis(5)).await;
                if node.is_closed() {
                    return;
                }
            }
            node.wake_follower();
        }
    }
}
