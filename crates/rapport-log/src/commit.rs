//! Group commit. A caller that finds no commit in progress *leads*: it commits its own request
//! in its own thread, with no hand-off (a lone caller never waits for another thread). Callers
//! that arrive while a commit is in progress queue up; the leader then hands the queue to the
//! log's writer thread, which commits one group after another (each group one `write` and, in
//! `Sync` mode, one `fdatasync`) until the queue is empty, and goes back to sleep. Exactly one
//! leader holds the [`Writer`] at a time, so positions stay gapless and are assigned in one
//! place (docs/design/log-format.md, "Commit sequence").
//!
//! Answers are handed out by a wake-up tree ([`WakeList`]): waking a thread costs its waker a
//! system call, so the leader wakes two callers and every woken caller wakes two more. Before it
//! takes a group, the writer thread may wait for the callers of its last group to queue again
//! ([`Committer::gather`]), when [`CohortPolicy`] measures that this commits more per second.
//! The writer thread also runs the `Buffered` sync timer.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::types::AppendOutcome;
use crate::writer::{Request, Writer};

/// Largest group a leader assembles before writing it.
const GROUP_BYTES_MAX: usize = 16 << 20;
/// How many further callers each woken caller (and the leader) wakes.
const WAKES_PER_WAKER: usize = 2;

/// What a request gets back.
pub(crate) enum Answer {
    Append(Result<AppendOutcome>),
    Sync(Result<()>),
}

impl Answer {
    /// The answer to `request` when it can no longer be committed.
    fn failed(request: &Request, error: Error) -> Answer {
        match request {
            Request::Append { .. } => Answer::Append(Err(error)),
            Request::Sync => Answer::Sync(Err(error)),
        }
    }
}

/// Callers of one group still to be woken (see the module documentation).
struct WakeList {
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
}

impl WakeList {
    /// Wakes up to `n` callers.
    fn wake(&self, n: usize) {
        for _ in 0..n {
            let idx = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.slots.get(idx) else { return };
            slot.changed.notify_one();
        }
    }
}

enum SlotState {
    Waiting,
    /// The caller's answer, and the wake-ups of its group it helps with before returning.
    Answered(Answer, Option<Arc<WakeList>>),
}

/// Where a queued caller waits for its answer.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    changed: Condvar,
}

impl Slot {
    fn new() -> Slot {
        Slot { state: Mutex::new(SlotState::Waiting), changed: Condvar::new() }
    }

    fn wait(&self) -> Answer {
        let mut state = self.state.lock();
        loop {
            match std::mem::replace(&mut *state, SlotState::Waiting) {
                SlotState::Waiting => self.changed.wait(&mut state),
                SlotState::Answered(answer, wake) => {
                    drop(state);
                    if let Some(wake) = wake {
                        wake.wake(WAKES_PER_WAKER);
                    }
                    return answer;
                }
            }
        }
    }

    /// Answers the slot unless it already holds an answer (used when a leader dies).
    fn answer_if_unanswered(&self, answer: Answer) {
        let mut state = self.state.lock();
        if !matches!(*state, SlotState::Answered(..)) {
            *state = SlotState::Answered(answer, None);
            drop(state);
            self.changed.notify_one();
        }
    }
}

/// Stores every answer, then starts the wake-up tree; returns the answer of `own`, if given.
fn answer(answers: Vec<(Arc<Slot>, Answer)>, own: Option<&Arc<Slot>>) -> Option<Answer> {
    let mut mine = None;
    let mut others = Vec::with_capacity(answers.len());
    for (slot, answer) in answers {
        if own.is_some_and(|own| Arc::ptr_eq(own, &slot)) {
            mine = Some(answer);
        } else {
            others.push((slot, answer));
        }
    }
    let wake = Arc::new(WakeList { slots: others.iter().map(|(slot, _)| slot.clone()).collect(), next: 0.into() });
    for (slot, answer) in others {
        // Stored without waking: the tree wakes it.
        *slot.state.lock() = SlotState::Answered(answer, Some(wake.clone()));
    }
    wake.wake(WAKES_PER_WAKER);
    mine
}

/// One queued request and where its caller waits.
pub(crate) struct Queued {
    pub(crate) request: Request,
    pub(crate) slot: Arc<Slot>,
    caller: ThreadId,
}

/// Who holds the right to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leader {
    Nobody,
    /// A caller commits its own request.
    Caller,
    /// The writer thread commits the queue.
    WriterThread,
}

struct Queue {
    /// Requests not yet taken into a group, oldest first.
    /// Invariant: non-empty only while `leader != Leader::Nobody`.
    requests: VecDeque<Queued>,
    leader: Leader,
    /// Callers of the group taken last: they are likely to append again soon.
    last_group: Vec<ThreadId>,
    /// How long the last group's `fdatasync` took (zero outside `Sync` mode).
    last_sync: Duration,
    /// The writer thread gathers until this many requests are queued (0: it does not).
    gather_target: usize,
    /// When the writer thread must sync unsynced `Buffered` appends.
    sync_deadline: Option<Instant>,
    /// No more requests are accepted (the log is closing, or a leader panicked).
    closed: bool,
    /// A leader panicked: the writer's state is not to be trusted (no final sync).
    panicked: bool,
    /// The writer thread is to exit.
    stop: bool,
}

/// The group-commit machinery of one open log.
pub(crate) struct Committer {
    queue: Mutex<Queue>,
    /// Callers waiting for room in a full queue.
    queue_space: Condvar,
    /// Wakes the writer thread: work was handed to it, a sync deadline was set, or stop.
    writer_wanted: Condvar,
    /// The writer thread's gathered group is complete.
    gathered: Condvar,
    capacity: usize,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

/// Answers every caller of a group with `Error::Closed` if its leader unwinds (a broken
/// invariant panicked), and closes the queue, so that nobody waits forever.
struct LeaderGuard<'c> {
    committer: &'c Committer,
    slots: Vec<Arc<Slot>>,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for slot in &self.slots {
            slot.answer_if_unanswered(Answer::Append(Err(Error::Closed)));
        }
        let mut queue = self.committer.queue.lock();
        queue.closed = true;
        queue.panicked = true;
        queue.leader = Leader::Nobody;
        for queued in queue.requests.drain(..) {
            queued.slot.answer_if_unanswered(Answer::failed(&queued.request, Error::Closed));
        }
        drop(queue);
        self.committer.queue_space.notify_all();
    }
}

impl Committer {
    pub(crate) fn new(writer: Writer, capacity: usize) -> Committer {
        Committer {
            queue: Mutex::new(Queue {
                requests: VecDeque::new(),
                leader: Leader::Nobody,
                last_group: Vec::new(),
                last_sync: Duration::ZERO,
                gather_target: 0,
                sync_deadline: None,
                closed: false,
                panicked: false,
                stop: false,
            }),
            queue_space: Condvar::new(),
            writer_wanted: Condvar::new(),
            gathered: Condvar::new(),
            capacity: capacity.max(1),
            writer: Mutex::new(writer),
        }
    }

    /// Queues `request` and returns its answer; commits it in this thread if no commit is in
    /// progress.
    pub(crate) fn submit(&self, request: Request) -> Answer {
        let slot = Arc::new(Slot::new());
        let mut queue = self.queue.lock();
        loop {
            if queue.closed {
                return Answer::failed(&request, Error::Closed);
            }
            if queue.requests.len() < self.capacity {
                break;
            }
            self.queue_space.wait(&mut queue);
        }
        queue.requests.push_back(Queued { request, slot: slot.clone(), caller: std::thread::current().id() });
        if queue.leader == Leader::Nobody {
            queue.leader = Leader::Caller;
            return self.lead(queue, &slot);
        }
        let gathered = queue.gather_target != 0 && queue.requests.len() >= queue.gather_target;
        drop(queue);
        if gathered {
            self.gathered.notify_one();
        }
        slot.wait()
    }

    /// Takes the oldest requests (up to [`GROUP_BYTES_MAX`]) as one group.
    fn take_group(&self, mut queue: MutexGuard<'_, Queue>) -> Vec<Queued> {
        let mut group = Vec::new();
        let mut bytes = 0;
        while let Some(queued) = queue.requests.front() {
            if !group.is_empty() && bytes + queued.request.bytes() > GROUP_BYTES_MAX {
                break;
            }
            bytes += queued.request.bytes();
            group.extend(queue.requests.pop_front());
        }
        queue.last_group.clear();
        queue.last_group.extend(group.iter().map(|queued| queued.caller));
        drop(queue);
        self.queue_space.notify_all();
        group
    }

    /// The caller's own commit. The queue was empty when the caller took the lead (nobody leads
    /// only while nothing is queued), so its group is its own request alone.
    fn lead(&self, queue: MutexGuard<'_, Queue>, own: &Arc<Slot>) -> Answer {
        let group = self.take_group(queue);
        let first_is_own = group.first().is_some_and(|queued| Arc::ptr_eq(&queued.slot, own));
        assert!(first_is_own, "a caller's group must start with its own request");
        let mut guard =
            LeaderGuard { committer: self, slots: group.iter().map(|q| q.slot.clone()).collect(), armed: true };
        let mut writer = self.writer.lock();
        let answers = writer.commit_group(group);
        writer.after_answers();
        let (last_sync, deadline) = (writer.last_sync(), writer.sync_deadline());
        drop(writer);
        guard.armed = false;
        self.hand_on(last_sync, deadline, true);
        let Some(mine) = answer(answers, Some(own)) else {
            unreachable!("the writer answers every request of its group")
        };
        mine
    }

    /// After a group: records what the writer thread needs to know, and (from a caller) hands
    /// the queue to the writer thread or (from the writer thread) gives up the lead if it is
    /// empty. Returns whether the writer thread leads.
    fn hand_on(&self, last_sync: Duration, deadline: Option<Instant>, from_caller: bool) -> bool {
        let mut queue = self.queue.lock();
        queue.last_sync = last_sync;
        let mut wake_writer = false;
        if let Some(deadline) = deadline {
            if queue.sync_deadline.is_none_or(|current| deadline < current) {
                queue.sync_deadline = Some(deadline);
                wake_writer = from_caller;
            }
        }
        let writer_leads = if queue.requests.is_empty() {
            queue.leader = Leader::Nobody;
            false
        } else {
            wake_writer |= from_caller;
            queue.leader = Leader::WriterThread;
            true
        };
        drop(queue);
        if wake_writer {
            self.writer_wanted.notify_one();
        }
        writer_leads
    }

    /// The writer thread: commits the queue while it leads, syncs `Buffered` appends when they
    /// are due, and exits on [`Committer::stop_writer_thread`].
    fn run_writer_thread(&self) {
        let mut policy = CohortPolicy::default();
        let mut queue = self.queue.lock();
        loop {
            if queue.leader == Leader::WriterThread {
                if policy.gather {
                    self.gather(&mut queue);
                }
                let group = self.take_group(queue);
                let group_len = group.len();
                let mut guard =
                    LeaderGuard { committer: self, slots: group.iter().map(|q| q.slot.clone()).collect(), armed: true };
                let mut writer = self.writer.lock();
                let answers = writer.commit_group(group);
                answer(answers, None);
                writer.after_answers();
                let (last_sync, deadline) = (writer.last_sync(), writer.sync_deadline());
                drop(writer);
                guard.armed = false;
                if self.hand_on(last_sync, deadline, false) {
                    policy.committed(Instant::now(), group_len);
                } else {
                    policy.idle();
                }
                queue = self.queue.lock();
                continue;
            }
            if queue.stop {
                return;
            }
            match queue.sync_deadline {
                None => self.writer_wanted.wait(&mut queue),
                Some(deadline) if Instant::now() < deadline => {
                    self.writer_wanted.wait_until(&mut queue, deadline);
                }
                Some(_) => {
                    queue.sync_deadline = None;
                    drop(queue);
                    let mut writer = self.writer.lock();
                    writer.sync_if_due();
                    let next = writer.sync_deadline();
                    drop(writer);
                    queue = self.queue.lock();
                    if next.is_some_and(|next| queue.sync_deadline.is_none_or(|current| next < current)) {
                        queue.sync_deadline = next;
                    }
                }
            }
        }
    }

    /// Merges cohorts (`Sync` mode). While one group syncs, the callers answered by the group
    /// before it queue up; without waiting, the next group holds only them, and the callers
    /// being answered now wait for the group after: the callers split into two cohorts that take
    /// turns, and every append waits about two syncs. Gathering waits until the callers of the
    /// last group have queued again too, for at most [`GATHER_WAIT_FRACTION`] of the last sync,
    /// and not at all when everyone expected is queued already (a lone caller never waits).
    fn gather(&self, queue: &mut MutexGuard<'_, Queue>) {
        let max_wait = gather_wait_max(queue.last_sync);
        if max_wait.is_zero() {
            return;
        }
        let queued: Vec<ThreadId> = queue.requests.iter().map(|queued| queued.caller).collect();
        let Some(target) = gather_target(&queued, &queue.last_group, self.capacity) else { return };
        let deadline = Instant::now() + max_wait;
        queue.gather_target = target;
        while queue.requests.len() < target {
            if self.gathered.wait_until(queue, deadline).timed_out() {
                break;
            }
        }
        queue.gather_target = 0;
    }

    /// Stops the writer thread once it has committed what it leads. Called when the log is
    /// dropped (so no append is in flight), before [`Committer::close`].
    pub(crate) fn stop_writer_thread(&self) {
        let mut queue = self.queue.lock();
        queue.closed = true;
        queue.stop = true;
        drop(queue);
        self.writer_wanted.notify_all();
    }

    /// Syncs everything and records it, unless the writer is poisoned or a leader panicked.
    pub(crate) fn close(&self) {
        let panicked = self.queue.lock().panicked;
        if !panicked {
            self.writer.lock().close();
        }
    }
}

/// Spawns the writer thread.
pub(crate) fn spawn_writer_thread(committer: Arc<Committer>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("rapport-log-writer".to_owned()).spawn(move || committer.run_writer_thread())
}

/// Longest cohort wait, as a fraction of the last `fdatasync`.
const GATHER_WAIT_FRACTION: f64 = 0.5;

/// How long gathering may wait after a sync that took `last_sync` (zero without syncs).
fn gather_wait_max(last_sync: Duration) -> Duration {
    last_sync.mul_f64(GATHER_WAIT_FRACTION)
}

/// How many queued requests gathering waits for: one from every caller queued now or in the
/// last group (at most `capacity`); `None` when they are all queued already.
fn gather_target(queued: &[ThreadId], last_group: &[ThreadId], capacity: usize) -> Option<usize> {
    let expected: HashSet<&ThreadId> = queued.iter().chain(last_group).collect();
    let target = expected.len().min(capacity);
    (queued.len() < target).then_some(target)
}

/// Whether the writer thread gathers cohorts ([`Committer::gather`]), decided by measurement.
/// Gathering pays when the answered callers come back quickly compared to a sync: measured here,
/// it raised 4 to 16 writers' throughput by 6 to 30 %, and lowered 32 writers' by 5 to 15 %
/// (on 2 cores, waking 30 callers takes longer than the sync it saves). So the writer thread
/// counts the appends it commits per second in each mode, over windows of [`Self::WINDOW_GROUPS`]
/// busy groups, keeps the better mode, and tries the other one every [`Self::EXPLORE_EVERY`]th
/// window. Windows that the writer thread spends partly idle are not counted.
#[derive(Debug, Default)]
struct CohortPolicy {
    gather: bool,
    /// Start of the current window; `None` until the writer thread leads again after idling.
    window_start: Option<Instant>,
    window_groups: u32,
    window_appends: u64,
    /// Appends per second measured without (`[0]`) and with (`[1]`) gathering; 0: not yet.
    rates: [f64; 2],
    windows: u32,
}

impl CohortPolicy {
    const WINDOW_GROUPS: u32 = 32;
    const EXPLORE_EVERY: u32 = 8;

    /// The writer thread committed a group of `requests` and leads on.
    fn committed(&mut self, now: Instant, requests: usize) {
        let Some(start) = self.window_start else {
            // The first group after idling starts the window.
            self.window_start = Some(now);
            return;
        };
        self.window_groups += 1;
        self.window_appends += requests as u64;
        if self.window_groups < Self::WINDOW_GROUPS {
            return;
        }
        let rate = self.window_appends as f64 / now.duration_since(start).as_secs_f64().max(1e-9);
        let [rate_without, rate_with] = &mut self.rates;
        let measured = if self.gather { rate_with } else { rate_without };
        *measured = if *measured == 0.0 { rate } else { (*measured + rate) / 2.0 };
        self.windows += 1;
        let [without, with] = self.rates;
        // An unmeasured mode counts as better, so that both get measured.
        let gather_is_better = with == 0.0 || (without != 0.0 && with > without);
        self.gather = gather_is_better != self.windows.is_multiple_of(Self::EXPLORE_EVERY);
        self.window_start = Some(now);
        self.window_groups = 0;
        self.window_appends = 0;
    }

    /// The queue ran empty: the window so far measured the callers, not the disk.
    fn idle(&mut self) {
        self.window_start = None;
        self.window_groups = 0;
        self.window_appends = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::thread::ThreadId;
    use std::time::{Duration, Instant};

    use super::{gather_target, gather_wait_max, CohortPolicy};

    fn thread_ids(n: usize) -> Vec<ThreadId> {
        (0..n).map(|_| std::thread::spawn(|| std::thread::current().id()).join().expect("thread")).collect()
    }

    #[test]
    fn gathering_waits_only_for_callers_of_the_last_group_that_are_not_queued() {
        let t = thread_ids(4);
        // A lone caller, queued again: nobody to wait for.
        assert_eq!(gather_target(&t[..1], &t[..1], 4096), None);
        // Everyone of the last group is queued already.
        assert_eq!(gather_target(&t[..3], &t[1..3], 4096), None);
        // Two callers of the last group are still on their way back.
        assert_eq!(gather_target(&t[..2], &t[1..4], 4096), Some(4));
        // Never more than the queue holds.
        assert_eq!(gather_target(&t[..2], &t[1..4], 3), Some(3));
        assert_eq!(gather_target(&t[..3], &t[1..4], 3), None);
    }

    #[test]
    fn gathering_waits_at_most_half_of_the_last_sync_and_not_at_all_without_syncs() {
        assert_eq!(gather_wait_max(Duration::from_micros(300)), Duration::from_micros(150));
        assert_eq!(gather_wait_max(Duration::ZERO), Duration::ZERO);
    }

    /// Feeds `windows` full windows of groups of `requests` taking `group` each.
    fn run(policy: &mut CohortPolicy, clock: &mut Instant, windows: u32, group: Duration, requests: usize) {
        for _ in 0..windows * CohortPolicy::WINDOW_GROUPS {
            *clock += group;
            policy.committed(*clock, requests);
        }
    }

    #[test]
    fn cohort_policy_keeps_the_mode_that_commits_more_and_keeps_trying_the_other() {
        let mut clock = Instant::now();
        let mut policy = CohortPolicy::default();
        policy.committed(clock, 1); // starts the window
        assert!(!policy.gather, "starts without gathering");
        // Without gathering: 16 appends per 200 µs.
        run(&mut policy, &mut clock, 1, Duration::from_micros(200), 16);
        assert!(policy.gather, "the unmeasured mode is tried next");
        // With gathering: 32 appends per 300 µs, better.
        run(&mut policy, &mut clock, 1, Duration::from_micros(300), 32);
        let mut modes = Vec::new();
        for _ in 0..16 {
            let group = if policy.gather { (Duration::from_micros(300), 32) } else { (Duration::from_micros(200), 16) };
            modes.push(policy.gather);
            run(&mut policy, &mut clock, 1, group.0, group.1);
        }
        let explored = modes.iter().filter(|gather| !**gather).count();
        assert_eq!(explored, 2, "gathers, trying the other mode every 8th window: {modes:?}");
        // Now gathering gets slow (the callers take long to come back): the policy switches.
        for _ in 0..16 {
            let group = if policy.gather { (Duration::from_micros(900), 32) } else { (Duration::from_micros(200), 16) };
            run(&mut policy, &mut clock, 1, group.0, group.1);
        }
        assert!(!policy.gather, "gathering no longer pays: {policy:?}");
    }

    #[test]
    fn cohort_policy_ignores_windows_with_idle_time() {
        let mut clock = Instant::now();
        let mut policy = CohortPolicy::default();
        policy.committed(clock, 1);
        run(&mut policy, &mut clock, 1, Duration::from_micros(200), 16);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * b;
        assert!(close(policy.rates[0], 16.0 / 200e-6), "{policy:?}");
        // Half a window, an idle second, then a full window: the idle time is not measured.
        for _ in 0..CohortPolicy::WINDOW_GROUPS / 2 {
            clock += Duration::from_micros(300);
            policy.committed(clock, 32);
        }
        policy.idle();
        clock += Duration::from_secs(1);
        policy.committed(clock, 1); // starts the window again
        run(&mut policy, &mut clock, 1, Duration::from_micros(300), 32);
        assert!(close(policy.rates[1], 32.0 / 300e-6), "{policy:?}");
    }
}
