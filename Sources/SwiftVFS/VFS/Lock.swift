#if canImport(Glibc)
  import Glibc
#endif

/// A plain mutex (pthread_mutex_t on the heap, so its address never moves).
///
/// The VFS guards mutable state of shared objects (inodes, the dcache, tables)
/// with these and says in each type's comment which lock guards which field.
public final class Lock: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  /// An unlocked mutex.
  public init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Takes the mutex (pthread_mutex_lock); pair with `unlock`.
  @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
  /// Releases the mutex (pthread_mutex_unlock).
  @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }

  /// Runs `body` with the mutex held and returns its result.
  @inline(__always)
  public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }
}

/// A reader-writer lock (pthread_rwlock_t). Used for a superblock's namespace:
/// lookups and readdir read it, entry changes write it, like the kernel's
/// i_rwsem taken shared for lookup and exclusive for create/unlink/rename.
public final class RWLock: @unchecked Sendable {
  private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>

  /// An unlocked reader-writer lock.
  public init() {
    rwlock = .allocate(capacity: 1)
    rwlock.initialize(to: pthread_rwlock_t())
    pthread_rwlock_init(rwlock, nil)
  }

  deinit {
    pthread_rwlock_destroy(rwlock)
    rwlock.deallocate()
  }

  /// Runs `body` holding the lock shared (readers run together).
  @inline(__always)
  public func withReadLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_rwlock_rdlock(rwlock)
    defer { pthread_rwlock_unlock(rwlock) }
    return try body()
  }

  /// Runs `body` holding the lock exclusive.
  @inline(__always)
  public func withWriteLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_rwlock_wrlock(rwlock)
    defer { pthread_rwlock_unlock(rwlock) }
    return try body()
  }
}

/// A mutex with a condition variable on CLOCK_MONOTONIC, for code that
/// sleeps until a state changes: the wait queues, the page cache's "page
/// under I/O" waits, the flusher's sleep. Like `Lock`, on the heap so its
/// address never moves.
package final class ConditionLock: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let cond: UnsafeMutablePointer<pthread_cond_t>

  package init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    cond = .allocate(capacity: 1)
    cond.initialize(to: pthread_cond_t())
    var attr = pthread_condattr_t()
    pthread_condattr_init(&attr)
    // Timed waits measure a duration: a change of the wall clock must not
    // cut them short or stretch them.
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
    pthread_cond_init(cond, &attr)
    pthread_condattr_destroy(&attr)
  }

  deinit {
    pthread_cond_destroy(cond)
    cond.deallocate()
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  @inline(__always) package func lock() { pthread_mutex_lock(mutex) }
  @inline(__always) package func unlock() { pthread_mutex_unlock(mutex) }

  /// Runs `body` with the mutex held.
  @inline(__always)
  package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }

  /// Sleeps until woken; the mutex must be held, and is held again on return.
  package func wait() { pthread_cond_wait(cond, mutex) }

  /// Sleeps until woken or until `deadline` (see `deadline(after:)`); the
  /// mutex must be held. Returns false when the deadline passed.
  package func wait(until deadline: timespec) -> Bool {
    var deadline = deadline
    return pthread_cond_timedwait(cond, mutex, &deadline) != ETIMEDOUT
  }

  /// Wakes every sleeper; call with the mutex held, or right after changing
  /// the state they test under it.
  package func wakeAll() { pthread_cond_broadcast(cond) }

  /// The CLOCK_MONOTONIC time `seconds` from now (negative counts as 0).
  package static func deadline(after seconds: Double) -> timespec {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let total = Double(now.tv_nsec) + max(seconds, 0) * 1e9
    now.tv_sec += Int(total / 1e9)
    now.tv_nsec = Int(total.truncatingRemainder(dividingBy: 1e9))
    return now
  }
}
