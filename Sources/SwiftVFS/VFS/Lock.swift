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
