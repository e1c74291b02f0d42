import CUring
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// FUSE-over-io_uring for one connection (Documentation/filesystems/
/// fuse-io-uring.rst): a queue per possible CPU (the kernel's ring is ready,
/// and requests move to it, only once every queue has an entry:
/// is_ring_ready()), each with `depth` entries, served by its own thread.
/// INIT, FORGET, INTERRUPT and notifications stay on /dev/fuse.
///
/// Life: `prepare` (before the INIT reply, so that FUSE_OVER_IO_URING is
/// only asked for once the rings exist), `start` (after it: the kernel
/// refuses REGISTER with EAGAIN until the connection is initialized), then
/// `finish` once the connection's stop pipe is readable.
final class FuseUringTransport: @unchecked Sendable {
  /// The kernel's switch (fs/fuse/dev_uring.c: enable_uring, off by default).
  static let parameterPath = "/sys/module/fuse/parameters/enable_uring"
  /// Entries per queue at the start (libfuse's default queue depth).
  static let depth = 8
  /// The most a queue grows to when workers hold its entries (FuseUringQueue).
  static let maxDepth = 64
  /// READs of at least this many bytes are served on a worker (`handleRing`).
  static let offloadedReadSize = 128 * 1024

  let queues: [FuseUringQueue]
  /// Shared by the queues: while requests come one at a time, the queue
  /// thread that served one looks for the next before it sleeps. Set by the
  /// connection before `start` (none without busy polling, or on a single
  /// CPU, where that thread would keep the client from running), read only
  /// after.
  var gate: FuseReaderGate?
  private var threads: [pthread_t] = []
  private let started: UnsafeMutablePointer<sem_t>
  private let go: UnsafeMutablePointer<sem_t>
  private let lock = Lock()
  private var refusal: Int32 = 0
  private var refused = false

  private init(queues: [FuseUringQueue]) {
    self.queues = queues
    started = .allocate(capacity: 1)
    go = .allocate(capacity: 1)
    sem_init(started, 0, 0)
    sem_init(go, 0, 0)
  }

  deinit {
    sem_destroy(started)
    sem_destroy(go)
    started.deallocate()
    go.deallocate()
  }

  /// "Y" in the module parameter; else why not, for /proc/vfs/connection.
  static func kernelRefusal() -> String? {
    let fd = open(parameterPath, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "\(parameterPath): \(String(cString: strerror(errno)))" }
    defer { close(fd) }
    var byte: UInt8 = 0
    guard read(fd, &byte, 1) == 1 else { return "\(parameterPath) unreadable" }
    return byte == UInt8(ascii: "Y") ? nil : "enable_uring is off"
  }

  /// The number of possible CPUs (/sys/devices/system/cpu/possible, "0-N"):
  /// the kernel makes that many queues (fuse_uring_create(): nr_cpu_ids).
  static func possibleCPUs() -> Int {
    let fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      defer { close(fd) }
      var buffer = [UInt8](repeating: 0, count: 256)
      let n = read(fd, &buffer, buffer.count)
      if n > 0 {
        // The last number of the list is the highest CPU id.
        var highest = -1
        var current = -1
        for byte in buffer[0..<n] {
          if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            current = max(current, 0) * 10 + Int(byte - UInt8(ascii: "0"))
            if current > 65536 { return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))) }
          } else {
            highest = max(highest, current)
            current = -1
          }
        }
        highest = max(highest, current)
        if highest >= 0 { return highest + 1 }
      }
    }
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF))))
  }

  /// Rings and buffers for every queue, payloads as large as the kernel's
  /// max_payload_sz (fuse_uring_create(): the largest of 8 KiB, max_write
  /// and max_pages pages); the transport, or why there is none.
  static func prepare(
    sessionFD: Int32, stopFD: Int32, maxWrite: UInt32, maxPages: UInt16
  ) -> Result<FuseUringTransport, FuseUringUnavailable> {
    if let reason = kernelRefusal() { return .failure(FuseUringUnavailable(reason)) }
    let payload = max(8192, Int(maxWrite), Int(maxPages) * 4096)
    var queues: [FuseUringQueue] = []
    for qid in 0..<possibleCPUs() {
      var error: Int32 = 0
      guard
        let queue = FuseUringQueue(
          qid: UInt16(truncatingIfNeeded: qid), fd: sessionFD, stopFD: stopFD, depth: depth,
          maxDepth: maxDepth, payloadSize: payload, error: &error)
      else {
        for q in queues { q.close() }
        return .failure(
          FuseUringUnavailable("io_uring_setup: \(String(cString: strerror(-error)))"))
      }
      queues.append(queue)
    }
    for q in queues { FuseUringRoutes.add(q.entries) }
    return .success(FuseUringTransport(queues: queues))
  }

  /// "ring_entries free/all ..." per queue, for /proc/vfs/connection.
  func entriesReport() -> String {
    "ring_entries " + queues.map { $0.state() }.joined(separator: " ") + "\n"
  }

  /// "N queues × M entries (up to K)".
  var shape: String {
    "\(queues.count) queue\(queues.count == 1 ? "" : "s") × \(FuseUringTransport.depth) entries"
      + " (up to \(FuseUringTransport.maxDepth))"
  }

  /// Registers every queue's entries, each on its own thread; nil once all
  /// are registered (and served), else why not: then no queue serves, the
  /// kernel has turned io_uring off for the connection (fuse_uring_cmd():
  /// fc->io_uring = 0) and requests stay on /dev/fuse.
  func start(_ connection: FuseConnection) -> FuseUringUnavailable? {
    for queue in queues {
      guard
        let thread = startKernelThread({ [self] in
          // The kernel queues a request on the queue of its caller's CPU
          // (fuse_uring_task_to_queue()); served on that CPU, the caller's
          // sleep and the queue thread's wake-up cost no cross-CPU wake-up,
          // as libfuse pins its queue threads. A CPU that cannot be had
          // (offline) leaves the thread unpinned.
          _ = curing_pin_to_cpu(Int32(queue.qid))
          let result = queue.register()
          lock.withLock {
            if result != 0, refusal == 0 { refusal = result }
          }
          sem_post(started)
          while sem_wait(go) != 0, errno == EINTR {}
          if lock.withLock({ refused }) { return }
          queue.serve(connection, gate: gate)
        })
      else {
        lock.withLock { if refusal == 0 { refusal = -EAGAIN } }
        break
      }
      threads.append(thread)
    }
    for _ in threads { while sem_wait(started) != 0, errno == EINTR {} }
    let failure = lock.withLock {
      refused = refusal != 0
      return refusal
    }
    for _ in threads { sem_post(go) }
    guard failure != 0 else { return nil }
    finish()
    return FuseUringUnavailable(
      "FUSE_IO_URING_CMD_REGISTER: \(String(cString: strerror(-failure)))")
  }

  /// Waits for every queue thread (the stop pipe ended them, or the
  /// unmount took their entries) and frees the rings, then the buffers.
  func finish() {
    for thread in threads { pthread_join(thread, nil) }
    threads = []
    for queue in queues {
      FuseUringRoutes.remove(queue.entries)
      queue.close()
    }
  }

}

/// Why a connection serves on /dev/fuse read/write although io_uring was asked.
struct FuseUringUnavailable: Error, Sendable {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}

/// Requests served per transport, for /proc/vfs/connection: the ring's
/// count shows the requests really went through it.
final class FuseTransportCounters: @unchecked Sendable {
  private let lock = Lock()
  private var ring = 0
  private var device = 0
  /// The ring's entries per queue, once it serves.
  private var rings: FuseUringTransport?

  func attach(_ transport: FuseUringTransport?) { lock.withLock { rings = transport } }
  /// The gate of the transport in use (FuseReaderGate), if it has one.
  private var gate: FuseReaderGate?
  func attach(gate: FuseReaderGate?) { lock.withLock { self.gate = gate } }

  func countRing() { lock.withLock { ring += 1 } }
  func countDevice() { lock.withLock { device += 1 } }

  /// "requests io_uring N /dev/fuse M", the ring's entries, the gate.
  func report() -> String {
    let (r, d, rings, gate) = lock.withLock { (ring, device, self.rings, self.gate) }
    return "requests io_uring \(r) /dev/fuse \(d)\n" + (rings?.entriesReport() ?? "")
      + (gate?.report() ?? "")
  }
}

extension FuseConnection {
  /// One request an io_uring entry received: decoded from the entry's
  /// buffers, dispatched with the entry's tag as its descriptor, so the
  /// reply commits the entry (FuseUringRoutes). Every entry gets a reply,
  /// even a request that needs none, or the kernel's entry would stay out.
  func handleRing(_ entry: FuseUringEntry) {
    counters.countRing()
    // A WRITE's data is served where the kernel put it, in the payload buffer.
    if let (head, data) = entry.writeParts(argumentSize: decoder.argumentSize(.write)),
      head.withUnsafeBytes({ handleWrite(head: $0, data: data, fd: entry.tag) })
    {
      return
    }
    guard let bytes = entry.message() else {
      _ = sendError(unique: entry.commitID, .EIO, fd: entry.tag)
      return
    }
    let request: FuseRequest
    do throws(FuseDecodeFailure) {
      request = try decoder.decode(FuseWireBytes(bytes))
    } catch {
      var errno = Errno.EIO
      if case .reply(_, let given) = error.disposition { errno = given }
      _ = sendError(unique: entry.commitID, errno, fd: entry.tag)
      return
    }
    // A large READ is served on a worker, off this queue's CPU. The kernel
    // queues a request on its caller's CPU, where the pinned queue thread
    // runs: a sequential reader (and the readahead it triggers) and the
    // copy of its data would take turns on one CPU while the other idles.
    // Small requests stay here, where the round trip is cheapest.
    if case .read(let r) = request.body, Int(r.size) >= FuseUringTransport.offloadedReadSize,
      let workers = bridge.workers
    {
      workers.run { [self] in dispatch(request, fd: entry.tag) }
      return
    }
    dispatch(request, fd: entry.tag)
  }
}
