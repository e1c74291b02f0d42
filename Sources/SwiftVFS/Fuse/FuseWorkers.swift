import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The threads that serve requests which may sleep (a device read waiting
/// for data, the /proc trace), so the loop thread never waits on them.
///
/// Why not libfuse's multi-threaded loop for everything: for the usual
/// one-request-at-a-time client, every request then lands on a different
/// sleeping thread (the kernel wakes its readers in turn), and the hand-off
/// cost more than the work: creating a file took 2-4 times as long here as
/// with one thread. So the loop thread serves what cannot sleep (all of
/// memfs) at once, and hands files opened with direct I/O (devices, /proc)
/// to these workers. libfuse allows a reply from any thread.
///
/// Locking: `lock` guards the queue and the counts; jobs run without it.
final class FuseWorkers: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private let idleCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var queue: [() -> Void] = []
  private var threads = 0
  private var idle = 0
  private var busy = 0
  let maxThreads: Int

  init(maxThreads: Int) {
    self.maxThreads = max(maxThreads, 1)
    pthread_mutex_init(lock, nil)
    pthread_cond_init(wake, nil)
    pthread_cond_init(idleCond, nil)
  }

  /// Queues a job; starts a thread if none is idle and the limit allows.
  func run(_ job: @escaping () -> Void) {
    pthread_mutex_lock(lock)
    queue.append(job)
    // Every queued job needs a thread of its own: an idle one (each wakes
    // for one job; a thread signalled but not yet awake still counts as
    // idle), or a new one. Two jobs queued before one idle thread woke used
    // to leave the second waiting behind the first, which may sleep for good.
    if idle > 0 { pthread_cond_signal(wake) }
    if queue.count > idle, threads < maxThreads {
      threads += 1
      if let thread = startKernelThread({ [self] in work() }) {
        pthread_detach(thread)
      } else {
        threads -= 1
      }
    }
    pthread_mutex_unlock(lock)
  }

  private func work() {
    pthread_mutex_lock(lock)
    while true {
      while queue.isEmpty {
        idle += 1
        pthread_cond_wait(wake, lock)
        idle -= 1
      }
      let job = queue.removeFirst()
      busy += 1
      pthread_mutex_unlock(lock)
      job()
      pthread_mutex_lock(lock)
      busy -= 1
      if busy == 0 && queue.isEmpty { pthread_cond_broadcast(idleCond) }
    }
  }

  /// Waits until no job is queued or running (or `seconds` pass): the loop
  /// calls it after it ends, so no reply is sent into a destroyed session.
  func drain(seconds: Int) -> Bool {
    var deadline = timespec()
    clock_gettime(CLOCK_REALTIME, &deadline)
    deadline.tv_sec += seconds
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    while busy > 0 || !queue.isEmpty {
      // Wake sleepers (again: a queued job may start sleeping later).
      Interruption.interruptAll()
      var now = timespec()
      clock_gettime(CLOCK_REALTIME, &now)
      if now.tv_sec >= deadline.tv_sec { return false }
      var soon = now
      soon.tv_nsec += 50_000_000
      if soon.tv_nsec >= 1_000_000_000 {
        soon.tv_sec += 1
        soon.tv_nsec -= 1_000_000_000
      }
      pthread_cond_timedwait(idleCond, lock, &soon)
    }
    return true
  }
}

/// A request handle carried to a worker thread. libfuse allows the reply
/// from another thread; the handle stays valid until it is replied to.
struct PendingRequest: @unchecked Sendable {
  let req: FuseReplier
}
