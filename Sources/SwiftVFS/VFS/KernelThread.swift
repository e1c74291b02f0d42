#if canImport(Glibc)
  import Glibc
#endif

/// Starts `body` on a new POSIX thread, like kthread_run(): the loops that
/// block in read(2) on /dev/fuse, sleep on a condition or drive an io_uring
/// must not hold a Swift concurrency thread. Returns the thread, to join or
/// detach, or nil if none could be made (then `body` does not run).
package func startKernelThread(_ body: @escaping () -> Void) -> pthread_t? {
  final class Box {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
  }
  let context = Unmanaged.passRetained(Box(body)).toOpaque()
  var thread = pthread_t()
  let made = pthread_create(
    &thread, nil,
    { raw in
      guard let raw else { return nil }
      Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
      return nil
    }, context)
  guard made == 0 else {
    Unmanaged<Box>.fromOpaque(context).release()
    return nil
  }
  return thread
}
