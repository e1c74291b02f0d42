// Per-VFS state of the layers outside the core, like the kernel's
// per-machine globals of a subsystem (block/genhd.c's major_names, mm's
// page cache): the block layer keeps one registry and one page cache per
// VFS, made on first use, without the core knowing their types.
//
// Locking: `lock` guards the table and is held only to read or store it.
// `making` (recursive) serializes the `make` closures, so that each type is
// made exactly once even when two threads ask at the same time, and a
// `make` may ask for another subsystem (the page cache's may need the
// registry). Lock order: `making`, then `lock`.

#if canImport(Glibc)
  import Glibc
#endif

/// The table of subsystems' per-VFS objects, one per type (see ``VFS/subsystem(_:make:)``).
final class SubsystemTable: @unchecked Sendable {
  private let lock = Lock()
  private var objects: [ObjectIdentifier: AnyObject] = [:]
  private let making: UnsafeMutablePointer<pthread_mutex_t>

  init() {
    making = .allocate(capacity: 1)
    making.initialize(to: pthread_mutex_t())
    var attributes = pthread_mutexattr_t()
    pthread_mutexattr_init(&attributes)
    pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
    pthread_mutex_init(making, &attributes)
    pthread_mutexattr_destroy(&attributes)
  }

  deinit {
    pthread_mutex_destroy(making)
    making.deallocate()
  }

  func object<T: AnyObject>(_ type: T.Type, make: () -> T) -> T {
    let key = ObjectIdentifier(type)
    if let found = lock.withLock({ objects[key] }) { return unsafeDowncast(found, to: T.self) }
    pthread_mutex_lock(making)
    defer { pthread_mutex_unlock(making) }
    if let found = lock.withLock({ objects[key] }) { return unsafeDowncast(found, to: T.self) }
    let made = make()
    lock.withLock { objects[key] = made }
    return made
  }
}

extension VFS {
  /// The object of type `T` that a layer outside the core keeps for this
  /// VFS, made by `make` the first time anyone asks, exactly once even when
  /// threads ask together; later calls return it and ignore `make`.
  ///
  /// The block layer keeps its registry and its page cache here (as the
  /// kernel keeps one of each per machine): `BlockDeviceRegistry.of(vfs)`
  /// is `vfs.subsystem(BlockDeviceRegistry.self) { ... }`. `make` is the
  /// place to register the layer's /proc sections and shrinkers. It may ask
  /// for another subsystem, not for its own type (that would recurse). The
  /// object lives as long as the VFS: it must not hold the VFS strongly.
  public func subsystem<T: AnyObject>(_ type: T.Type, make: () -> T) -> T {
    subsystems.object(type, make: make)
  }
}
