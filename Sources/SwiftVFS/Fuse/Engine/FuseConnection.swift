import CFuse
import SwiftVFSCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The native engine: one FUSE connection served in Swift, without
/// libfuse's loop. libfuse still mounts (fuse_session_mount) and unmounts;
/// this reads the requests from the session's /dev/fuse descriptor, answers
/// INIT itself (up to the kernel's protocol, clamped to ours), then serves
/// on `threadCount` threads, each on its own clone of the descriptor
/// (FUSE_DEV_IOC_CLONE), so the kernel hands requests to whichever is free.
/// Each clone is read with a blocking read(2): the kernel wakes one sleeping
/// reader per request (an exclusive wait), as for libfuse's loop. While
/// requests come one at a time, the first thread serves them alone and
/// reads on for a moment after each reply (FuseReaderGate).
///
/// Life: `run` returns on ENODEV (unmount, abort: every thread ends, and is
/// joined) or `stop` (the session exited: a signal; threads asleep in read
/// end at the unmount that follows). It drains the bridge's workers and
/// async requests before it returns.
///
/// Locking: the negotiated state (`encoder`, `decoder`, `agreed`) is written
/// once, by `run` before any serving thread starts, and only read after;
/// `lock` guards `failure` and `initialized` (read by notifying threads).
final class FuseConnection: @unchecked Sendable {
  let bridge: FuseBridge
  let sessionFD: Int32
  let threadCount: Int
  /// The transport asked for; io_uring falls back to read/write if it cannot be had.
  let transportChoice: FuseSession.Transport
  /// Requests served per transport (/proc/vfs/connection).
  let counters = FuseTransportCounters()
  /// The rings, prepared before the INIT reply when io_uring is asked for.
  private var uring: FuseUringTransport?
  /// Why io_uring was asked for but is not used.
  private var uringUnavailable: String?
  /// A pipe: its read end (`stopFD`) turns readable once the engine must
  /// stop; a byte is written to `stopWriteFD` (async-signal-safe).
  let stopFD: Int32
  let stopWriteFD: Int32
  let interrupts = FuseInterruptTable()
  private(set) var encoder = FuseReplyEncoder()
  private(set) var decoder = FuseRequestDecoder()
  /// What INIT agreed; nil before.
  private(set) var agreed: FuseConnectionInfo?
  private let lock = Lock()
  private var failure: Int32 = 0
  /// Set once the engine ends: a serving thread checks it after each request.
  let stopping = Atomic<Bool>(false)
  /// A serving thread read ENODEV: the connection is gone for all of them.
  private let sawUnmount = Atomic<Bool>(false)
  /// INIT is answered: notifications may be sent.
  private var initialized = false

  /// Requests are read into a buffer of max_write (1 MiB with max_pages
  /// 256) plus a page for the header and the in-arguments, as the kernel
  /// requires (fuse_dev_do_read(): at least max_write + both headers).
  static let bufferSize = (256 + 1) * 4096

  /// What the engine asks at INIT when the kernel offers it.
  static let wanted: FuseInitFlags = [
    .asyncRead, .atomicOTrunc, .bigWrites, .doReaddirplus, .readdirplusAuto, .parallelDirops,
    .handleKillprivV2, .maxPages, .cacheSymlinks, .setxattrExt, .exportSupport, .asyncDio,
    .hasIoctlDir,
  ]

  init(
    bridge: FuseBridge, sessionFD: Int32, threads: Int,
    transport: FuseSession.Transport = .automatic
  ) {
    self.bridge = bridge
    transportChoice = transport
    self.sessionFD = sessionFD
    threadCount = max(threads, 1)
    var fds: [Int32] = [-1, -1]
    if pipe(&fds) == 0 {
      for fd in fds {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
      }
    } else {
      fds = [-1, -1]
    }
    stopFD = fds[0]
    stopWriteFD = fds[1]
  }

  deinit {
    if stopFD >= 0 { close(stopFD) }
    if stopWriteFD >= 0 { close(stopWriteFD) }
  }

  /// The number of serving threads: one per CPU, at least 2.
  static var defaultThreads: Int { max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// Ends the engine: `run` wakes and returns (async-signal-safe).
  func stop() {
    stopping.store(true, ordering: .releasing)
    var byte: UInt8 = 1
    _ = write(stopWriteFD, &byte, 1)
  }

  // MARK: - Serving

  /// Serves until unmount or `stop`: 0 on a clean end, else a negative errno.
  func run() -> Int32 {
    guard stopFD >= 0 else { return -Int32(EMFILE) }
    let session = FuseChannel.session(sessionFD)
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: FuseConnection.bufferSize, alignment: 4096)
    defer { buffer.deallocate() }
    // INIT comes first, on the session's descriptor.
    while agreed == nil {
      switch session.receive(into: buffer, stopFD: stopFD, stopping: stopping) {
      case .success(let n):
        handleBeforeInit(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), channel: session)
      case .failure(.unmounted), .failure(.stopped):
        return 0
      case .failure(.failed(let e)):
        return -e
      }
    }
    // The ring, once INIT is answered; read/write threads beside it carry
    // what the ring does not (FORGET, INTERRUPT), so fewer of them.
    var readWriteThreads = threadCount
    // Busy polling needs a CPU for the client beside the polling thread.
    let busyPoll =
      sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 ? bridge.options.busyPollMicroseconds : 0
    if let rings = uring {
      rings.gate = busyPoll > 0 ? FuseReaderGate(spinMicroseconds: busyPoll) : nil
      if let failure = rings.start(self) {
        uringUnavailable = failure.reason
        uring = nil
      } else {
        readWriteThreads = max(1, threadCount / 2)
        counters.attach(rings)
      }
    }
    var channels: [FuseChannel] = []
    for _ in 0..<readWriteThreads {
      guard let clone = FuseChannel.clone(of: sessionFD) else { break }
      channels.append(clone)
    }
    // No clone (an old kernel): the session's descriptor alone.
    if channels.isEmpty { channels = [session] }
    // Several readers, no ring, and busy polling: the lead may serve
    // requests that come one at a time.
    var gate: FuseReaderGate?
    var spinChannel: FuseChannel?
    if uring == nil, channels.count > 1, busyPoll > 0,
      let spin = FuseChannel.nonBlockingClone(of: sessionFD)
    {
      gate = FuseReaderGate(spinMicroseconds: busyPoll)
      spinChannel = spin
    }
    var readWrite =
      channels[0] === session
      ? "read/write, 1 thread on the session fd"
      : "read/write, \(channels.count) thread\(channels.count == 1 ? "" : "s") on cloned fds"
    if gate != nil { readWrite += ", one of them alone for requests one at a time" }
    counters.attach(gate: gate ?? uring?.gate)
    if let rings = uring {
      agreed?.transport = "io_uring, \(rings.shape) (and \(readWrite))"
    } else if let reason = uringUnavailable {
      agreed?.transport = "\(readWrite) (io_uring unavailable: \(reason))"
    } else {
      agreed?.transport = readWrite
    }
    publishReport()
    var threads: [pthread_t] = []
    for (i, channel) in channels.enumerated() {
      let reader = Reader(channel: channel, spin: i == 0 ? spinChannel : nil, gate: gate)
      if let thread = startKernelThread({ [self] in serve(reader) }) { threads.append(thread) }
    }
    if threads.isEmpty {
      serve(Reader(channel: session, spin: nil, gate: nil))
    } else {
      waitForStop()
    }
    stopping.store(true, ordering: .releasing)
    gate?.turnCold()
    // The stop pipe is readable: each queue thread's poll completes.
    counters.attach(nil)
    uring?.finish()
    if sawUnmount.load(ordering: .acquiring) {
      // ENODEV reaches every descriptor of the connection: all end.
      for thread in threads { pthread_join(thread, nil) }
    } else {
      // Stopped (a signal): threads asleep in read(2) wake only for a
      // request or the unmount that follows (FuseSession.close), and then
      // end; they hold the connection and the bridge until then.
      for thread in threads { pthread_detach(thread) }
    }
    // No reply may go to a session that is about to be destroyed.
    if let workers = bridge.workers { _ = workers.drain(seconds: 5) }
    bridge.asyncRequests.drain(seconds: 5)
    return lock.withLock { failure }
  }

  /// The calling thread sleeps until the stop pipe turns readable.
  private func waitForStop() {
    var fds = [pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
    while poll(&fds, 1, -1) < 0, errno == EINTR {}
  }

  /// What one serving thread reads: its clone; for the lead, also the
  /// non-blocking clone it spins on and the gate (FuseReaderGate).
  private struct Reader {
    let channel: FuseChannel
    let spin: FuseChannel?
    let gate: FuseReaderGate?
  }

  /// One thread's loop: read, decode, dispatch, until the end.
  private func serve(_ reader: Reader) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: FuseConnection.bufferSize, alignment: 4096)
    defer { buffer.deallocate() }
    let gate = reader.gate
    let isLead = reader.spin != nil
    while !stopping.load(ordering: .acquiring) {
      if let gate, !isLead {
        gate.parkWhileHot(stopping: stopping)
        if stopping.load(ordering: .acquiring) { return }
      }
      var channel = reader.channel
      var received: Result<Int, FuseChannel.End>
      var waiting = false
      if let spin = reader.spin, let gate, gate.isHot,
        let found = spin.spinReceive(into: buffer, nanos: gate.spinNanos)
      {
        channel = spin
        received = .success(found.count)
        waiting = found.atOnce
        gate.noteFoundSpinning()
      } else {
        received = channel.receive(into: buffer, stopFD: stopFD, stopping: stopping)
      }
      switch received {
      case .success(let n):
        if let gate {
          let now = FuseBridge.monotonicNanos()
          let pid =
            n >= FuseInHeader.wireSize
            ? FuseInHeader.pid(at: UnsafeRawPointer(buffer.baseAddress!)) : 0
          gate.requestBegins(pid: pid, waiting: waiting, now: now)
          if isLead { gate.leadBusy(since: now) }
        }
        handle(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), channel: channel)
        if let gate {
          gate.requestEnds()
          if isLead { gate.leadBusy(since: 0) }
        }
      case .failure(let end):
        switch end {
        case .unmounted: sawUnmount.store(true, ordering: .releasing)
        case .failed(let e): lock.withLock { if failure == 0 { failure = -e } }
        case .stopped: break
        }
        stop()
        return
      }
    }
  }

  /// Decodes one request and hands it to the dispatcher; a request that
  /// does not decode gets the error reply the decoder names, or none.
  func handle(_ bytes: UnsafeRawBufferPointer, channel: FuseChannel) {
    counters.countDevice()
    // A WRITE's data is served where read(2) put it.
    let head = FuseInHeader.wireSize + decoder.argumentSize(.write)
    if bytes.count > head,
      UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        == FuseKernelOpcode.write.rawValue,
      handleWrite(
        head: UnsafeRawBufferPointer(rebasing: bytes[0..<head]),
        data: UnsafeRawBufferPointer(rebasing: bytes[head...]), fd: channel.fd)
    {
      return
    }
    let message = FuseWireBytes(Array(bytes))
    let request: FuseRequest
    do throws(FuseDecodeFailure) {
      request = try decoder.decode(message)
    } catch {
      if case .reply(let unique, let errno) = error.disposition {
        _ = sendError(unique: unique, errno, fd: channel.fd)
      }
      return
    }
    dispatch(request, fd: channel.fd)
  }

  /// Before INIT only INIT is answered; anything else is EIO (do_init()'s rule).
  private func handleBeforeInit(_ bytes: UnsafeRawBufferPointer, channel: FuseChannel) {
    let request: FuseRequest
    do throws(FuseDecodeFailure) {
      request = try decoder.decode(FuseWireBytes(Array(bytes)))
    } catch {
      if case .reply(let unique, let errno) = error.disposition {
        _ = sendError(unique: unique, errno, fd: channel.fd)
      }
      return
    }
    guard case .fuseInit(let offer) = request.body else {
      _ = sendError(unique: request.header.unique, .EIO, fd: channel.fd)
      return
    }
    guard
      var out = FuseConnection.negotiate(
        offer, writebackCache: bridge.options.writebackCache,
        idmap: bridge.asksAllowIdmap)
    else {
      _ = sendError(unique: request.header.unique, Errno(EPROTO), fd: channel.fd)
      return
    }
    // The ring's flag and limits go into the reply (offerRing skips a newer major).
    if transportChoice != .readWrite { offerRing(offer, &out) }
    let reply = encoder.initReply(unique: request.header.unique, out, kernelMinor: offer.minor)
    if out.major != FuseProtocolVersion.major {
      // A newer major: the kernel sends INIT again with ours.
      _ = send(reply, fd: channel.fd)
      return
    }
    encoder = FuseReplyEncoder(minor: out.minor)
    decoder = FuseRequestDecoder(minor: out.minor, setxattrExt: out.flags.contains(.setxattrExt))
    bridge.handlesKillPrivV2 = out.flags.contains(.handleKillprivV2)
    agreed = FuseConnectionInfo(
      minor: out.minor, flags: out.flags, maxWrite: out.maxWrite, maxPages: out.maxPages,
      maxReadahead: out.maxReadahead, timeGran: out.timeGran,
      maxBackground: out.maxBackground, congestionThreshold: out.congestionThreshold,
      transport: "read/write")
    publishReport()
    lock.withLock { initialized = true }
    _ = send(reply, fd: channel.fd)
  }

  /// /proc/vfs/connection reads what INIT agreed, and the requests per transport.
  func publishReport() {
    guard let agreed else { return }
    let counters = self.counters
    bridge.vfs.requests.connectionReport = { agreed.report() + counters.report() }
  }

  /// FUSE_OVER_IO_URING in the INIT reply only when the kernel offers it
  /// (it does while enable_uring is Y) and the rings could be made.
  private func offerRing(_ offer: FuseInitIn, _ out: inout FuseInitOut) {
    guard out.major == FuseProtocolVersion.major else { return }
    if let refusal = FuseUringTransport.kernelRefusal() {
      // Left off by root: `.automatic` has nothing to explain.
      if transportChoice == .ioUring { uringUnavailable = refusal }
      return
    }
    // flags2 (where the flag lives) is read only with INIT_EXT.
    guard offer.flags.isSuperset(of: [.overIOUring, .initExt]) else {
      uringUnavailable = "the kernel does not offer FUSE_OVER_IO_URING"
      return
    }
    switch FuseUringTransport.prepare(
      sessionFD: sessionFD, stopFD: stopFD, maxWrite: out.maxWrite, maxPages: out.maxPages)
    {
    case .success(let rings):
      uring = rings
      out.flags.formUnion([.overIOUring, .initExt])
    case .failure(let failure):
      uringUnavailable = failure.reason
    }
  }

  /// INIT as do_init() answers it: the kernel's minor clamped to ours, the
  /// flags we want among those offered, 1 MiB requests with MAX_PAGES.
  /// nil when the kernel is too old (EPROTO).
  static func negotiate(_ offer: FuseInitIn, writebackCache: Bool, idmap: Bool = false)
    -> FuseInitOut?
  {
    if offer.major > FuseProtocolVersion.major {
      return FuseInitOut(minor: FuseProtocolVersion.minor, maxReadahead: 0, flags: [], maxWrite: 0)
    }
    guard offer.major == FuseProtocolVersion.major,
      offer.minor >= FuseProtocolVersion.oldestMinor
    else { return nil }
    var want = wanted
    // POSIX ACLs, enforced by the kernel (PosixAcl.swift), with the umask
    // left to us (DONT_MASK): both or neither, as the libfuse path asks.
    let acl: FuseInitFlags = [.posixACL, .dontMask]
    if offer.flags.isSuperset(of: acl) { want.formUnion(acl) }
    if writebackCache { want.insert(.writebackCache) }
    // Idmapped mounts (they need default_permissions); a flag of flags2,
    // which the kernel reads only with INIT_EXT in the reply.
    if idmap { want.formUnion([.allowIdmap, .initExt]) }
    want.formIntersection(offer.flags)
    let maxPages: UInt16 = want.contains(.maxPages) ? 256 : 0
    return FuseInitOut(
      minor: min(offer.minor, FuseProtocolVersion.minor),
      maxReadahead: min(offer.maxReadahead, 1 << 20), flags: want,
      maxBackground: FuseBridge.maxBackground,
      congestionThreshold: FuseBridge.congestionThreshold,
      maxWrite: maxPages > 0 ? 1 << 20 : 128 << 10, timeGran: 1, maxPages: maxPages)
  }

  // MARK: - Writing

  func sendError(unique: UInt64, _ errno: Errno, fd: Int32) -> Int32 {
    send(encoder.error(unique: unique, errno), fd: fd)
  }

  func send(_ bytes: [UInt8], fd: Int32) -> Int32 {
    bytes.withUnsafeBytes { raw in
      FuseChannel.writev(
        fd,
        [iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)],
        expected: raw.count)
    }
  }

  /// A notification (unique 0, the code in the error field), on the
  /// session's descriptor: 0 or a negative errno (ENOENT: nothing cached).
  func notify(code: Int32, _ body: [UInt8]) -> Int32 {
    guard lock.withLock({ initialized }) else { return -ENOTCONN }
    var w = FuseWireWriter(capacity: FuseOutHeader.wireSize + body.count)
    FuseOutHeader(
      len: UInt32(truncatingIfNeeded: FuseOutHeader.wireSize + body.count), error: code, unique: 0
    )
    .encode(into: &w)
    w.raw(body)
    return send(w.bytes, fd: sessionFD)
  }

  /// FUSE_NOTIFY_INVAL_INODE (2): struct fuse_notify_inval_inode_out.
  func invalidateInode(_ nodeID: UInt64, offset: Int64, length: Int64) -> Int32 {
    var w = FuseWireWriter(capacity: 24)
    w.u64(nodeID)
    w.i64(offset)
    w.i64(length)
    return notify(code: 2, w.bytes)
  }

  /// FUSE_NOTIFY_INVAL_ENTRY (3): struct fuse_notify_inval_entry_out, the name and its NUL.
  func invalidateEntry(parent: UInt64, name: [UInt8]) -> Int32 {
    var w = FuseWireWriter(capacity: 16 + name.count + 1)
    w.u64(parent)
    w.u32(UInt32(truncatingIfNeeded: name.count))
    w.u32(0)
    w.cString(name)
    return notify(code: 3, w.bytes)
  }

  /// FUSE_NOTIFY_POLL (1): struct fuse_notify_poll_wakeup_out.
  func pollWakeup(_ kh: UInt64) -> Int32 {
    var w = FuseWireWriter(capacity: 8)
    w.u64(kh)
    return notify(code: 1, w.bytes)
  }

  // MARK: - Threads

}

/// What a connection agreed at INIT, as /proc/vfs/connection prints it.
struct FuseConnectionInfo: Sendable {
  var major: UInt32 = FuseProtocolVersion.major
  var minor: UInt32
  var flags: FuseInitFlags
  var maxWrite: UInt32
  var maxPages: UInt16
  var maxReadahead: UInt32
  var timeGran: UInt32
  var maxBackground: UInt16
  var congestionThreshold: UInt16
  var transport: String

  /// One "key value" line each; the flags by their INIT names.
  @Sendable func report() -> String {
    """
    protocol \(major).\(minor)
    transport \(transport)
    max_write \(maxWrite)
    max_pages \(maxPages)
    max_readahead \(maxReadahead)
    time_gran \(timeGran)
    max_background \(maxBackground)
    congestion_threshold \(congestionThreshold)
    flags \(flags.names.joined(separator: " "))

    """
  }
}

/// The requests that registered an interrupt callback, by unique, and the
/// interrupts that came before their request registered (the kernel sends
/// FUSE_INTERRUPT once the request was read, maybe before its thread got
/// this far), as libfuse's do_interrupt() and check_interrupt() keep them.
///
/// Locking: `lock` guards both, and each request's `interruptCallback`;
/// a callback runs under it, so none runs after its unregistering returns.
final class FuseInterruptTable: @unchecked Sendable {
  private let lock = Lock()
  private var waiting: [UInt64: FuseChannelRequest] = [:]
  /// Interrupts not matched yet, oldest first; a few are kept (a request
  /// that never registers leaves its interrupt here until pushed out).
  private var early: [UInt64] = []
  private static let earlyMax = 64

  func register(_ request: FuseChannelRequest, _ callback: (@Sendable () -> Void)?) {
    lock.withLock {
      guard let callback else {
        request.interruptCallback = nil
        waiting.removeValue(forKey: request.unique)
        return
      }
      request.interruptCallback = callback
      waiting[request.unique] = request
      if let i = early.firstIndex(of: request.unique) {
        early.remove(at: i)
        callback()
      }
    }
  }

  /// FUSE_INTERRUPT for request `unique`.
  func interrupt(_ unique: UInt64) {
    lock.withLock {
      if let callback = waiting[unique]?.interruptCallback {
        callback()
        return
      }
      early.append(unique)
      if early.count > FuseInterruptTable.earlyMax { early.removeFirst() }
    }
  }
}

/// A FUSE poll handle of the native engine: waking it sends
/// FUSE_NOTIFY_POLL with the kernel's handle (fuse_lowlevel_notify_poll()).
final class FuseNativePollWaiter: PollWaiter, @unchecked Sendable {
  private let kh: UInt64
  private weak var connection: FuseConnection?
  init(kh: UInt64, connection: FuseConnection) {
    self.kh = kh
    self.connection = connection
  }
  func wake() { _ = connection?.pollWakeup(kh) }
}
