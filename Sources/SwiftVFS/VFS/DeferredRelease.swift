#if canImport(Glibc)
  import Glibc
#endif

/// Releases chains of objects one after another instead of one inside another.
///
/// ARC frees an object's strong references from inside its `deinit`. A long
/// chain (a dcache hash chain or LRU list, a directory tree as deep as the
/// longest path) is then freed recursively, one stack frame per link, and a
/// chain of 100,000 links overflows the 8 MiB stack: the daemon died that way
/// after an unmount. The kernel never frees recursively either: dput() walks
/// up to the parent in a loop ("kill_it: ... goto repeat").
///
/// A `deinit` that may hold more objects of its kind hands them to
/// `DeferredRelease.release(_:)` instead of dropping them. The first call on a
/// thread drains a work list until it is empty; a call made while that drain
/// runs (from a `deinit` the drain itself set off) only appends to the list.
/// So the stack depth stays constant, whatever the chain's length.
public enum DeferredRelease {
  /// The objects waiting to be dropped by the drain running on this thread.
  private final class WorkList {
    var objects: [AnyObject] = []
  }

  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// Drops `objects` (call from a `deinit`, with the references it moved out
  /// of its stored properties), without recursion through their own deinits.
  /// Takes them out of the caller's array, which is left empty: a reference
  /// left there would be dropped when the caller returns, recursively again.
  public static func release(_ objects: inout [AnyObject]) {
    guard !objects.isEmpty else { return }
    if let running = pthread_getspecific(key) {
      let work = Unmanaged<WorkList>.fromOpaque(running).takeUnretainedValue()
      work.objects.append(contentsOf: objects)
      objects.removeAll()
      return
    }
    let work = WorkList()
    swap(&work.objects, &objects)
    pthread_setspecific(key, Unmanaged.passUnretained(work).toOpaque())
    // Each object dropped here may run a deinit that appends to `work`.
    while !work.objects.isEmpty {
      _ = work.objects.removeLast()
    }
    pthread_setspecific(key, nil)
  }
}
