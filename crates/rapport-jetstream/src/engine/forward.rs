//! Forwarding: a node that lost the race for the stream's next sequence sends its callers'
//! appends from then on to the node that won it, whose writer decides them with its own in one
//! group (docs/design/cluster.md, "Forwarding").
//!
//! Writes serialize across the cluster (each message expects the sequence before it), so nodes
//! that all publish take turns: the winner of a race keeps winning (it applies its own message
//! from memory and publishes again at once) and a message holds only its own callers' appends.
//! A node that defers to the winner lets one writer gather every node's appends into each
//! message. A node defers to the node that won its last lost race and stops deferring when its
//! own message wins one (so two nodes that deferred to each other end with one writer); a node
//! that defers sends forwarded appends back to be decided by their own node (which then races,
//! and defers to the winner); a node whose forward gets no answer (the writer stopped)
//! publishes again itself.
//!
//! Nothing about correctness depends on it: the writer decides a forwarded append exactly like
//! its own (against its replica, published with the expected sequence), and whenever a forward
//! does not come back with an answer — no such node any more, a timeout, an error, a writer that
//! would not append it — the node decides the append itself, where idempotency by event id
//! turns an append the writer did make into `AlreadyAppended`.

use std::sync::mpsc::SyncSender;
use std::sync::Weak;

use super::{block_on, bounded, Pending, Shared};
use crate::wire;
use rapport_log::{AppendOutcome, Position, StreamWrite};

/// Hex digits of a node id: the first half of each message id the node publishes, which is how
/// other nodes know who wrote the last message.
pub(super) const NODE_ID_HEX: usize = 16;

/// A forwarded append's answers: the first byte, then the commit's last position (u64 LE).
const ANSWER_DECIDE_YOURSELF: u8 = 0;
const ANSWER_APPENDED: u8 = 1;
const ANSWER_ALREADY_APPENDED: u8 = 2;

/// What a forward came to.
pub(super) enum Forwarded {
    /// The writer appended it (or had) and this node's replica holds it.
    Done(AppendOutcome),
    /// No answer, or the writer would not append it: the caller decides it here. The writer may
    /// have appended it all the same (an answer lost on the way): the decision here then finds
    /// its ids, and the caller reports the append as its own.
    DecideHere,
}

/// The subject a node takes forwarded appends on.
pub(super) fn forward_subject(stream: &str, node: &str) -> String {
    format!("rapport.{stream}.forward.{node}")
}

impl Shared {
    /// The node to forward to: the one this node lost its last race to, until a forward to it
    /// gets no answer.
    pub(super) fn forward_target(&self) -> Option<String> {
        self.defer_to.lock().clone()
    }

    /// After a lost race (the replica caught up past it): defers to the writer of the message
    /// that won.
    pub(super) fn defer_to_winner(&self) {
        if !self.options.forward_appends {
            return;
        }
        let winner = self.last_writer.lock().clone();
        if let Some(winner) = winner.filter(|winner| *winner != self.node_id) {
            *self.defer_to.lock() = Some(winner);
        }
    }

    /// After this node's own message won the race for its sequence: it writes, it defers no
    /// more.
    pub(super) fn won_race(&self) {
        let mut defer_to = self.defer_to.lock();
        if defer_to.is_some() {
            *defer_to = None;
        }
    }

    /// Forwards one append to `writer`: see [`Forwarded`].
    pub(super) fn forward(&self, writer: &str, writes: &[StreamWrite], encoded: &[u8]) -> Forwarded {
        match self.try_forward(writer, writes, encoded) {
            Some(outcome) => Forwarded::Done(outcome),
            None => Forwarded::DecideHere,
        }
    }

    fn try_forward(&self, writer: &str, writes: &[StreamWrite], encoded: &[u8]) -> Option<AppendOutcome> {
        let payload = bytes::Bytes::from(wire::encode_payload(std::iter::once(encoded)));
        let subject = forward_subject(&self.stream, writer);
        let request = self.client.request(subject, payload);
        let answer = match block_on(&self.runtime, bounded(self.request_timeout, "forwarding an append", request)) {
            Ok(Ok(answer)) => answer,
            // No such node any more (no responders), a timeout, a lost connection: publish
            // again here, and defer to whoever wins next.
            Ok(Err(_)) | Err(_) => {
                let mut defer_to = self.defer_to.lock();
                if defer_to.as_deref() == Some(writer) {
                    *defer_to = None;
                }
                return None;
            }
        };
        let (&kind, last) = answer.payload.split_first()?;
        let last = u64::from_le_bytes(<[u8; 8]>::try_from(last).ok()?);
        if kind != ANSWER_APPENDED && kind != ANSWER_ALREADY_APPENDED {
            return None;
        }
        if !self.wait_applied(Position(last.saturating_add(1)), self.append_timeout) {
            return None;
        }
        let commit = self.replica.check_append(writes).ok()??;
        Some(if kind == ANSWER_APPENDED {
            AppendOutcome::Appended(commit)
        } else {
            AppendOutcome::AlreadyAppended(commit)
        })
    }

    /// Waits until the replica reaches `position` (the follower applies other nodes' messages),
    /// at most `timeout`; returns whether it did.
    pub(super) fn wait_applied(&self, position: Position, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut progress = self.progress.lock();
        loop {
            if self.replica.end_position() >= position {
                return true;
            }
            if std::time::Instant::now() >= deadline || self.is_closed() {
                return false;
            }
            self.wake_follower();
            self.progress_changed.wait_for(&mut progress, std::time::Duration::from_millis(50));
        }
    }

    /// Tells the waiters of [`Shared::wait_applied`] that the replica grew.
    pub(super) fn notify_progress(&self) {
        drop(self.progress.lock());
        self.progress_changed.notify_all();
    }

    /// Decides a forwarded append through this node's writer; returns the answer's bytes.
    fn decide_forwarded(&self, payload: &[u8], queue: &SyncSender<Pending>) -> Vec<u8> {
        let decide_yourself = vec![ANSWER_DECIDE_YOURSELF];
        if self.defer_to.lock().is_some() {
            // This node forwards its own appends: it is not the writer to gather others'.
            return decide_yourself;
        }
        let Ok(mut commits) = wire::decode_payload(0, payload) else { return decide_yourself };
        let (Some(writes), true) = (commits.pop(), commits.is_empty()) else { return decide_yourself };
        let Ok(encoded) = wire::encode_commit(&writes) else { return decide_yourself };
        let events = writes.iter().map(|w| w.events.len()).sum();
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if queue.send(Pending { writes, encoded, events, reply }).is_err() {
            return decide_yourself;
        }
        let (kind, commit) = match answer.recv() {
            Ok(Ok(AppendOutcome::Appended(commit))) => (ANSWER_APPENDED, commit),
            Ok(Ok(AppendOutcome::AlreadyAppended(commit))) => (ANSWER_ALREADY_APPENDED, commit),
            // A refusal (a version conflict, a limit) is decided again by the forwarding node,
            // which gives its caller the same typed error.
            _ => return decide_yourself,
        };
        let mut out = vec![kind];
        out.extend_from_slice(&commit.last_position.0.to_le_bytes());
        out
    }
}

/// Takes forwarded appends on this node's subject until the engine closes.
pub(super) async fn serve(
    shared: Weak<Shared>,
    client: async_nats::Client,
    subject: String,
    queue: SyncSender<Pending>,
) {
    use futures_util::StreamExt;
    let Ok(mut subscriber) = client.subscribe(subject).await else { return };
    while let Some(message) = subscriber.next().await {
        let Some(reply) = message.reply.clone() else { continue };
        let Some(shared) = shared.upgrade() else { return };
        if shared.is_closed() {
            return;
        }
        let (queue, client) = (queue.clone(), client.clone());
        tokio::task::spawn_blocking(move || {
            let answer = shared.decide_forwarded(&message.payload, &queue);
            shared.runtime.block_on(async {
                let _ = client.publish(reply, answer.into()).await;
            });
        });
    }
}
