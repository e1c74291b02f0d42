import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A wait queue, like the kernel's `wait_queue_head_t` (kernel/sched/wait.c):
/// threads sleep on it until a condition holds, and whoever makes the condition
/// true wakes them. A driver whose read must wait for data (the `log` device)
/// keeps one, sleeps with `wait(until:)` and wakes readers with `wakeAll()`
/// after it has changed its state.
///
/// It also holds poll waiters, as `poll_wait()` adds a poll table entry to the
/// driver's queue: `pollWait(_:readyWhen:)` keeps a `PollWaiter` when nothing
/// is ready yet, and the next `wakeAll()` wakes it once and drops it (a FUSE
/// poll handle is good for one notification).
///
/// The rule that makes it race-free, as in the kernel: the waker first changes
/// the state the condition reads (under the driver's own lock), then calls
/// `wakeAll()`. The condition is evaluated with the queue's mutex held, and
/// `wakeAll()` takes that mutex, so a wake-up can never fall between a
/// sleeper's test and its sleep.
///
/// Sleeps are interruptible (wait_event_interruptible): a thread that runs a
/// request under an `Interruption` returns EINTR from `wait` when that
/// interruption fires (FUSE_INTERRUPT: the caller got a signal).
///
/// A sleeper holds a thread: at the FUSE boundary, one of libfuse's worker
/// threads. If every worker slept, none would be left to read the write that
/// would wake them, nor the FUSE_INTERRUPT that would end their sleep, and the
/// mount would hang. So the sleeps in progress, over all queues, are bounded
/// by `WaitQueue.sleeperLimit` (the bridge sets it below its thread limit); a
/// wait past the bound fails at once with EAGAIN instead of sleeping.
///
/// Locking: `mutex` guards `pollWaiters` and the sleeps. The condition runs
/// with `mutex` held and may take the driver's locks, so a driver must never
/// call into the queue while holding a lock its condition takes. Lock order:
/// queue mutex, then driver lock, then an `Interruption`'s lock.
public final class WaitQueue: @unchecked Sendable {
  private let mutex = ConditionLock()
  private var pollWaiters: [PollWaiter] = []
  private var sleepers = 0

  /// An empty queue (init_waitqueue_head).
  public init() {}

  /// Like wait_event_interruptible(): returns when `condition` is true, or
  /// throws EINTR if the calling thread's `Interruption.current` fires (or
  /// has fired) first. `condition` runs with the queue's mutex held.
  public func wait(until condition: () -> Bool) throws(Errno) {
    _ = try wait(until: condition, timeout: nil)
  }

  /// Like wait_event_interruptible_timeout(): as `wait(until:)`, but gives up
  /// after `timeout` seconds (nil: never). Returns whether the condition held.
  public func wait(until condition: () -> Bool, timeout: Double?) throws(Errno) -> Bool {
    let interruption = Interruption.current ?? Interruption()
    let deadline = timeout.map { ConditionLock.deadline(after: $0) }
    mutex.lock()
    defer { mutex.unlock() }
    if condition() { return true }
    let sleeping = WaitQueue.sleeping.wrappingAdd(1, ordering: .relaxed).newValue
    defer { WaitQueue.sleeping.wrappingSubtract(1, ordering: .relaxed) }
    guard sleeping <= WaitQueue.sleeperLimit else { throw .EAGAIN }
    // Registered with the mutex held: an interrupt() after this point takes
    // the mutex to wake us, so it cannot be lost between test and sleep.
    guard interruption.beginWait(on: self) else { throw .EINTR }
    sleepers += 1
    defer {
      sleepers -= 1
      interruption.endWait()
    }
    Interruption.registry.add(interruption)
    defer { Interruption.registry.remove(interruption) }
    while true {
      if let deadline {
        if !mutex.wait(until: deadline) { return condition() }
      } else {
        mutex.wait()
      }
      if condition() { return true }
      if interruption.isInterrupted { throw .EINTR }
    }
  }

  /// Like wake_up_interruptible_all(): every sleeper tests its condition
  /// again, and every poll waiter kept is woken once and dropped.
  public func wakeAll() {
    mutex.lock()
    mutex.wakeAll()
    let woken = pollWaiters
    pollWaiters.removeAll()
    mutex.unlock()
    for waiter in woken { waiter.wake() }
  }

  /// Like poll_wait() followed by the driver's readiness test, as one step:
  /// evaluates `ready` with the queue's mutex held and, if it is false and a
  /// waiter is given, keeps the waiter for the next `wakeAll()`. Returns
  /// `ready`'s answer. A waiter already kept is not kept twice.
  public func pollWait(_ waiter: PollWaiter?, readyWhen ready: () -> Bool) -> Bool {
    mutex.lock()
    defer { mutex.unlock() }
    if ready() { return true }
    if let waiter, !pollWaiters.contains(where: { $0 === waiter }) {
      pollWaiters.append(waiter)
    }
    return false
  }

  /// The most threads that may sleep at once in all wait queues together;
  /// a wait beyond it throws EAGAIN. The FUSE bridge sets it a few below
  /// its max_threads, so that some workers are always free to serve the
  /// requests that wake the sleepers. Default 8 (libfuse's default pool is 10).
  public static var sleeperLimit: Int {
    get { limit.load(ordering: .relaxed) }
    set { limit.store(max(newValue, 0), ordering: .relaxed) }
  }
  private static let limit = Atomic<Int>(8)
  private static let sleeping = Atomic<Int>(0)

  /// Threads asleep in all wait queues now.
  public static var totalSleepers: Int { sleeping.load(ordering: .relaxed) }

  /// Threads asleep on the queue now (for tests and /proc).
  public var sleeperCount: Int {
    mutex.lock()
    defer { mutex.unlock() }
    return sleepers
  }

  /// Poll waiters kept now.
  public var pollWaiterCount: Int {
    mutex.lock()
    defer { mutex.unlock() }
    return pollWaiters.count
  }

  /// Wakes sleepers so they test their interruption (used by `Interruption`).
  fileprivate func broadcast() {
    mutex.withLock { mutex.wakeAll() }
  }
}

/// The "a signal is pending" state of one request, like TIF_SIGPENDING for
/// the task a kernel driver sleeps in: a `WaitQueue` sleep in a thread whose
/// `Interruption.current` is this one returns EINTR once it is interrupted.
///
/// How the FUSE bridge uses it (see Fuse/FuseInterrupts.swift):
/// ```swift
/// let interruption = Interruption()
/// Interruption.current = interruption          // this thread runs the request
/// fuse_req_interrupt_func(req, { _, data in    // FUSE_INTERRUPT arrives
///   Unmanaged<Interruption>.fromOpaque(data!).takeUnretainedValue().interrupt()
/// }, Unmanaged.passUnretained(interruption).toOpaque())
/// defer { fuse_req_interrupt_func(req, nil, nil); Interruption.current = nil }
/// ... vfs.read(...) ...                        // a blocked wait throws EINTR
/// ```
/// - `interrupt()` may be called from any thread, before, during or after
///   the wait; an interruption that fired before the wait makes the wait
///   return EINTR at once (libfuse calls the callback at registration if
///   the interrupt came first). It stays fired: use a new one per request.
/// - `Interruption.current` is thread-local and retains its value; set it
///   back to nil when the request is done.
/// - A thread with no current interruption sleeps until its condition holds
///   or `Interruption.interruptAll()` is called.
/// - `interruptAll()` is for teardown: every wait asleep now returns EINTR,
///   so no libfuse worker stays blocked in a driver when the loop must end.
public final class Interruption: @unchecked Sendable {
  private let lock = Lock()
  private var interrupted = false
  private var queue: WaitQueue?

  /// A source with no interruption pending.
  public init() {}

  /// Whether `interrupt()` was called.
  public var isInterrupted: Bool { lock.withLock { interrupted } }

  /// Fires: a wait in progress under this interruption returns EINTR, and so
  /// does any later one.
  public func interrupt() {
    let queue = lock.withLock { () -> WaitQueue? in
      interrupted = true
      return self.queue
    }
    queue?.broadcast()
  }

  /// Called by `WaitQueue.wait` with the queue's mutex held: records the
  /// queue to wake, or answers false if already interrupted.
  fileprivate func beginWait(on queue: WaitQueue) -> Bool {
    lock.withLock {
      guard !interrupted else { return false }
      self.queue = queue
      return true
    }
  }

  fileprivate func endWait() {
    lock.withLock { queue = nil }
  }

  /// The interruption of the request this thread is serving, if any.
  public static var current: Interruption? {
    get {
      guard let raw = pthread_getspecific(currentKey) else { return nil }
      return Unmanaged<Interruption>.fromOpaque(raw).takeUnretainedValue()
    }
    set {
      if let old = pthread_getspecific(currentKey) {
        Unmanaged<Interruption>.fromOpaque(old).release()
      }
      let raw = newValue.map { Unmanaged.passRetained($0).toOpaque() }
      pthread_setspecific(currentKey, raw)
    }
  }

  /// Runs `body` with `interruption` as this thread's current one, then
  /// restores the previous one.
  public static func withCurrent<T, E: Error>(
    _ interruption: Interruption, _ body: () throws(E) -> T
  ) throws(E) -> T {
    let previous = current
    current = interruption
    defer { current = previous }
    return try body()
  }

  /// Interrupts every wait asleep now, in any thread (for teardown).
  public static func interruptAll() {
    for interruption in registry.all { interruption.interrupt() }
  }

  fileprivate static let registry = Registry()

  /// The interruptions of the sleeps in progress.
  fileprivate final class Registry: @unchecked Sendable {
    private let lock = Lock()
    private var sleeping: [ObjectIdentifier: (Interruption, Int)] = [:]

    func add(_ i: Interruption) {
      lock.withLock {
        let n = sleeping[ObjectIdentifier(i)]?.1 ?? 0
        sleeping[ObjectIdentifier(i)] = (i, n + 1)
      }
    }

    func remove(_ i: Interruption) {
      lock.withLock {
        let id = ObjectIdentifier(i)
        guard let (_, n) = sleeping[id] else { return }
        sleeping[id] = n > 1 ? (i, n - 1) : nil
      }
    }

    var all: [Interruption] { lock.withLock { sleeping.values.map(\.0) } }
  }
}

/// The thread-local slot behind `Interruption.current`; its destructor
/// releases what a thread left set when it exits.
private let currentKey: pthread_key_t = {
  var key = pthread_key_t()
  pthread_key_create(&key) { raw in
    if let raw { Unmanaged<Interruption>.fromOpaque(raw).release() }
  }
  return key
}()
