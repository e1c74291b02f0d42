// Caches outside the core that `echo 1 > /proc/sys/vm/drop_caches` empties,
// like register_shrinker() (mm/shrinker.c) and drop_pagecache_sb()
// (fs/drop_caches.c): the page cache registers a callback that drops its
// clean pages, and the proc file system runs them all without knowing them.
//
// Locking: `lock` guards the list; the callbacks run without it, in
// registration order, on the thread that wrote drop_caches.

/// Callbacks that drop clean cached data on `drop_caches` (see ``VFS/shrinkers``).
///
/// A callback frees what can be read again (clean pages), never dirty data,
/// and returns the bytes it freed (0 if it does not know).
public final class Shrinkers: @unchecked Sendable {
  private let lock = Lock()
  private var shrinkers: [(name: String, shrink: @Sendable () -> Int)] = []

  /// No shrinker registered.
  public init() {}

  /// Registers `shrink` under `name` (register_shrinker()). Registering a name
  /// again replaces its callback and keeps its place.
  public func register(name: String, shrink: @escaping @Sendable () -> Int) {
    lock.withLock {
      if let i = shrinkers.firstIndex(where: { $0.name == name }) {
        shrinkers[i].shrink = shrink
      } else {
        shrinkers.append((name, shrink))
      }
    }
  }

  /// Removes the shrinker `name` (unregister_shrinker()); nothing if there is none.
  public func unregister(name: String) {
    lock.withLock { shrinkers.removeAll { $0.name == name } }
  }

  /// The registered names, in order.
  public var names: [String] { lock.withLock { shrinkers.map(\.name) } }

  /// Runs every shrinker once, in registration order (drop_caches 1); returns
  /// the bytes each one says it freed, by name.
  @discardableResult
  public func shrinkAll() -> [(name: String, freed: Int)] {
    let all = lock.withLock { shrinkers }
    return all.map { ($0.name, max($0.shrink(), 0)) }
  }
}
