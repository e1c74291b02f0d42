import CUring
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// One ring entry of a FUSE-over-io_uring queue (the kernel's struct
/// fuse_ring_ent): a page-aligned header buffer (struct
/// fuse_uring_req_header: the in/out header, the opcode's first argument,
/// fuse_uring_ent_in_out) and a payload buffer of the connection's largest
/// request, both registered with FUSE_IO_URING_CMD_REGISTER and then reused
/// by every COMMIT_AND_FETCH of the entry.
///
/// Locking: `queue.lock` guards `commitID` and `waiting`.
final class FuseUringEntry: @unchecked Sendable {
  /// Offsets in struct fuse_uring_req_header.
  static let opInOffset = 128
  static let entInOutOffset = 256
  static let headerSize = 4096

  /// Strong: a reply on a worker may outlive the queue's serving; the
  /// queue lets go of its entries in `close()`.
  let queue: FuseUringQueue
  let index: Int
  /// The descriptor value a reply names to come back here (FuseUringRoutes).
  let tag: Int32
  let header: UnsafeMutableRawPointer
  let payload: UnsafeMutableRawPointer
  let payloadSize: Int
  /// The two iovecs REGISTER names; they must live as long as the entry.
  let iov: UnsafeMutablePointer<iovec>
  /// The unique of the request the entry holds (fuse_uring_ent_in_out.commit_id).
  var commitID: UInt64 = 0
  /// A request is out to the file system: exactly one reply commits it.
  var waiting = false
  /// REGISTER has not been accepted yet: a retry (EAGAIN) registers again.
  var registering = true
  /// The request is held on a worker while it waits for the kernel
  /// (FuseUringQueue.tryHold); its reply gives the hold back.
  var held = false

  init(queue: FuseUringQueue, index: Int, payloadSize: Int) {
    self.queue = queue
    self.index = index
    self.payloadSize = payloadSize
    header = .allocate(byteCount: FuseUringEntry.headerSize, alignment: 4096)
    header.initializeMemory(as: UInt8.self, repeating: 0, count: FuseUringEntry.headerSize)
    payload = .allocate(byteCount: payloadSize, alignment: 4096)
    iov = .allocate(capacity: 2)
    iov[0] = iovec(iov_base: header, iov_len: Int(CURING_FUSE_REQ_HEADER_SIZE))
    iov[1] = iovec(iov_base: payload, iov_len: payloadSize)
    tag = FuseUringRoutes.nextTag()
  }

  deinit {
    header.deallocate()
    payload.deallocate()
    iov.deallocate()
  }

  /// fuse_in_header.len, the request's length as /dev/fuse would give it.
  var inLength: Int { Int(UInt32(littleEndian: header.loadUnaligned(as: UInt32.self))) }
  var ringCommitID: UInt64 {
    UInt64(
      littleEndian: header.loadUnaligned(
        fromByteOffset: FuseUringEntry.entInOutOffset + 8, as: UInt64.self))
  }
  var ringPayloadSize: Int {
    Int(
      UInt32(
        littleEndian: header.loadUnaligned(
          fromByteOffset: FuseUringEntry.entInOutOffset + 16, as: UInt32.self)))
  }

  /// The request in /dev/fuse's layout (fuse_in_header, the first argument
  /// from op_in, the rest from the payload), as fuse_uring_args_to_ring()
  /// split it; nil if the sizes do not add up.
  func message() -> [UInt8]? {
    let length = inLength
    let payloadCount = ringPayloadSize
    let opCount = length - FuseInHeader.wireSize - payloadCount
    guard length >= FuseInHeader.wireSize, payloadCount <= payloadSize,
      (0...128).contains(opCount)
    else { return nil }
    return joined(opCount: opCount, payloadCount: payloadCount)
  }

  /// fuse_in_header, `opCount` bytes of op_in and `payloadCount` bytes of
  /// the payload, one after another; the caller has checked the sizes.
  private func joined(opCount: Int, payloadCount: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: FuseInHeader.wireSize + opCount + payloadCount)
    bytes.withUnsafeMutableBytes { out in
      guard let base = out.baseAddress else { return }
      base.copyMemory(from: header, byteCount: FuseInHeader.wireSize)
      (base + FuseInHeader.wireSize).copyMemory(
        from: header + FuseUringEntry.opInOffset, byteCount: opCount)
      (base + FuseInHeader.wireSize + opCount).copyMemory(from: payload, byteCount: payloadCount)
    }
    return bytes
  }

  /// For a WRITE: the header and the fixed argument (`argumentSize` bytes
  /// of op_in) joined, and the data left in the payload buffer; nil for
  /// another opcode or sizes that do not add up (`message()` then).
  func writeParts(argumentSize: Int) -> (head: [UInt8], data: UnsafeRawBufferPointer)? {
    let opcode = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    let payloadCount = ringPayloadSize
    guard opcode == FuseKernelOpcode.write.rawValue, argumentSize <= 128,
      payloadCount <= payloadSize,
      inLength == FuseInHeader.wireSize + argumentSize + payloadCount
    else { return nil }
    return (
      joined(opCount: argumentSize, payloadCount: 0),
      UnsafeRawBufferPointer(start: payload, count: payloadCount)
    )
  }

  /// Puts a reply (fuse_out_header then the body, as writev() would send
  /// it) into the buffers: the header in in_out, the body in the payload
  /// (fuse_uring_copy_from_ring() reads payload_sz bytes of it). Called
  /// with `queue.lock` held.
  func store(_ iov: [iovec], total: Int) {
    var headerBytes = [UInt8](repeating: 0, count: FuseOutHeader.wireSize)
    var offset = 0
    var bodyCount = 0
    let bodyFits = total - FuseOutHeader.wireSize <= payloadSize
    for part in iov where part.iov_len > 0 {
      guard let base = part.iov_base else { continue }
      var from = 0
      while from < part.iov_len {
        if offset < FuseOutHeader.wireSize {
          let n = min(FuseOutHeader.wireSize - offset, part.iov_len - from)
          headerBytes.withUnsafeMutableBytes {
            ($0.baseAddress! + offset).copyMemory(from: base + from, byteCount: n)
          }
          offset += n
          from += n
        } else {
          let n = part.iov_len - from
          if bodyFits { (payload + bodyCount).copyMemory(from: base + from, byteCount: n) }
          bodyCount += n
          offset += n
          from += n
        }
      }
    }
    header.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
    headerBytes.withUnsafeBytes { header.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    if !bodyFits {
      // Larger than the entry can carry: the caller gets EIO, not a short reply.
      header.storeBytes(of: (-EIO).littleEndian, toByteOffset: 4, as: Int32.self)
      bodyCount = 0
    }
    header.storeBytes(
      of: UInt32(truncatingIfNeeded: bodyCount).littleEndian,
      toByteOffset: FuseUringEntry.entInOutOffset + 16, as: UInt32.self)
  }
}

/// One FUSE-over-io_uring queue (the kernel's struct fuse_ring_queue, one
/// per possible CPU: fuse_uring_task_to_queue() picks the queue of the CPU
/// the calling task runs on): its own io_uring of 128-byte SQEs
/// (fuse_uring_cmd() wants IO_URING_F_SQE128 for struct fuse_uring_cmd_req),
/// its entries, and the thread that owns the ring. That thread submits
/// every SQE: the kernel copies the next request into an entry's buffers in
/// the task that submitted its command (fuse_uring_send_in_task()). A reply
/// made on another thread (a worker) is queued in `pending` and the owner
/// woken through `eventFD`, which it polls through the ring beside the
/// connection's stop pipe.
///
/// A request handed to a worker keeps its entry until it replies, and a
/// worker may wait for another request of the same queue (an O_DIRECT write
/// waits in an invalidation for pages whose READ is still to come). The
/// kernel gives a request that finds no free entry to the next entry that
/// commits (fuse_uring_next_fuse_req()); an entry REGISTERed later only
/// waits for new requests (fuse_uring_do_register() does not look at the
/// queued ones). So once every entry is out and held, the queued requests
/// wait for good, and with them the holders: only `holdLimit` requests may
/// be held at once, fewer than the entries registered at the start (seen:
/// fio's 64 AIO O_DIRECT writes held all of a queue's entries while the
/// READ their page drop waited for stayed queued). Entries still grow on
/// demand, up to `maxDepth`, while fewer than two wait in the kernel, for
/// requests that sleep on a worker (a blocking device read) and arrive later.
///
/// Locking: `lock` guards `pending`, `closed`, and the entries' state;
/// `entries` and `inKernel` change on the owner thread only, under `lock`
/// (`state` reads them from others).
final class FuseUringQueue: @unchecked Sendable {
  /// user_data of the two polls; an entry's is its index + 1.
  static let stopData: UInt64 = 1 << 62
  static let wakeData: UInt64 = (1 << 62) + 1

  let qid: UInt16
  let fd: Int32
  let stopFD: Int32
  let eventFD: Int32
  private var ring: OpaquePointer?
  private(set) var entries: [FuseUringEntry] = []
  /// The most entries the queue grows to.
  let maxDepth: Int
  /// The most requests held on workers at once (`tryHold`): half the
  /// entries registered at the start, the rest left to fetch what they wait for.
  let holdLimit: Int
  /// Requests held now.
  private var holding = 0
  private let payloadSize: Int
  /// Entries the kernel holds (registered or fetching), free for a request.
  private var inKernel = 0
  let lock = Lock()
  private var pending: [Int] = []
  private var closed = false
  private var owner: pthread_t?
  /// Completions `register` reaped that were not its own answers: the
  /// kernel may fetch a request into an entry as soon as the last queue's
  /// REGISTER made the ring ready, before `register` returns. `serve`
  /// handles them first (once they were dropped, and their callers hung).
  private var early: [(data: UInt64, result: Int32)] = []

  /// Sets up the ring and the buffers (no kernel command yet): nil and the
  /// negative errno in `error` if io_uring_setup or eventfd fails.
  init?(
    qid: UInt16, fd: Int32, stopFD: Int32, depth: Int, maxDepth: Int, payloadSize: Int,
    error: inout Int32
  ) {
    self.qid = qid
    self.maxDepth = max(depth, maxDepth)
    holdLimit = max(1, depth / 2)
    self.payloadSize = payloadSize
    self.fd = fd
    self.stopFD = stopFD
    eventFD = curing_eventfd()
    guard eventFD >= 0 else {
      error = eventFD
      return nil
    }
    // Room for every entry's command and the two polls at once.
    var sqEntries: UInt32 = 1
    while sqEntries < UInt32(self.maxDepth + 2) { sqEntries <<= 1 }
    var made: Int32 = 0
    guard let ring = curing_ring_new(sqEntries, sqEntries * 2, &made) else {
      error = made
      return nil
    }
    self.ring = ring
    entries = (0..<depth).map { FuseUringEntry(queue: self, index: $0, payloadSize: payloadSize) }
  }

  deinit {
    curing_ring_free(ring)
    if eventFD >= 0 { Glibc.close(eventFD) }
  }

  /// Tears the ring down before any buffer is freed (io_uring_queue_exit
  /// cancels the commands the kernel holds: fuse_uring_cancel()), then lets
  /// go of the entries. After `serve` has returned, or instead of it.
  func close() {
    lock.withLock { closed = true }
    curing_ring_free(ring)
    ring = nil
    lock.withLock { entries = [] }
  }

  // MARK: - On the owner thread

  /// Registers every entry (fuse_uring_register()) and arms the polls; 0,
  /// or the kernel's negative errno for the first REGISTER it refused (its
  /// failure comes back at once: the command is issued inline).
  func register() -> Int32 {
    owner = pthread_self()
    lock.withLock {
      for entry in entries { prepare(entry) }
    }
    armPoll(stopFD, FuseUringQueue.stopData)
    armPoll(eventFD, FuseUringQueue.wakeData)
    let submitted = curing_submit(ring)
    if submitted < 0 { return submitted }
    var data: UInt64 = 0
    var result: Int32 = 0
    while curing_next_cqe(ring, &data, &result) == 1 {
      if data >= 1, data <= UInt64(entries.count), result < 0 { return result }
      early.append((data, result))
    }
    return 0
  }

  /// The SQE for `entry`'s next command: REGISTER until the kernel holds
  /// it, then COMMIT_AND_FETCH with the unique it answers. Called with
  /// `lock` held, on the owner thread.
  private func prepare(_ entry: FuseUringEntry) {
    inKernel += 1
    // The queue has room for every entry's command and both polls at once.
    if entry.registering {
      _ = curing_prep_fuse_cmd(
        ring, fd, UInt32(CURING_FUSE_CMD_REGISTER), entry.iov, qid, 0, UInt64(entry.index + 1))
    } else {
      _ = curing_prep_fuse_cmd(
        ring, fd, UInt32(CURING_FUSE_CMD_COMMIT_AND_FETCH), nil, qid, entry.commitID,
        UInt64(entry.index + 1))
    }
  }

  private func armPoll(_ pollFD: Int32, _ data: UInt64) {
    _ = curing_prep_poll(ring, pollFD, data)
  }

  /// The owner's loop: submit, wait, serve each completed entry, until the
  /// stop pipe turns readable or every entry is gone (unmount: the kernel
  /// ends the commands with ENOTCONN or ECANCELED).
  func serve(_ connection: FuseConnection, gate: FuseReaderGate?) {
    var gone = 0
    var stopped = false
    // What the kernel completed while `register` waited for its answers.
    let reaped = early
    early = []
    for (data, result) in reaped {
      complete(data, result, connection, gate: gate, stopped: &stopped, gone: &gone)
    }
    while !stopped, gone < entries.count {
      var waited: Int32
      if let gate, gate.isHot {
        // Requests one at a time: look at the completion queue for a
        // while before sleeping in io_uring_enter (FuseReaderGate).
        waited = curing_submit(ring)
        let deadline = FuseBridge.monotonicNanos() &+ gate.spinNanos
        while curing_cq_ready(ring) == 0, FuseBridge.monotonicNanos() < deadline {}
        if curing_cq_ready(ring) == 0 {
          waited = curing_submit_and_wait(ring)
        } else {
          gate.noteFoundSpinning()
        }
      } else {
        waited = curing_submit_and_wait(ring)
      }
      if waited < 0, waited != -EINTR, waited != -EAGAIN, waited != -EBUSY { break }
      var data: UInt64 = 0
      var result: Int32 = 0
      while curing_next_cqe(ring, &data, &result) == 1 {
        complete(data, result, connection, gate: gate, stopped: &stopped, gone: &gone)
      }
      let queued = lock.withLock {
        let list = pending
        pending.removeAll()
        return list
      }
      if !queued.isEmpty { lock.withLock { for i in queued { prepare(entries[i]) } } }
      if !stopped, gone == 0 { grow() }
    }
    lock.withLock { closed = true }
  }

  /// One completion: the stop pipe, the wake-up of a reply made on another
  /// thread, or an entry: a request fetched into it (served now), a command
  /// to issue again (EAGAIN, EINTR), or the end of the entry (unmount).
  private func complete(
    _ data: UInt64, _ result: Int32, _ connection: FuseConnection, gate: FuseReaderGate?,
    stopped: inout Bool, gone: inout Int
  ) {
    switch data {
    case FuseUringQueue.stopData:
      stopped = true
    case FuseUringQueue.wakeData:
      var count: UInt64 = 0
      _ = read(eventFD, &count, 8)
      armPoll(eventFD, FuseUringQueue.wakeData)
    default:
      let index = Int(data) - 1
      guard entries.indices.contains(index) else { return }
      let entry = entries[index]
      if result == 0 {
        lock.withLock {
          inKernel -= 1
          entry.registering = false
          entry.commitID = entry.ringCommitID
          entry.waiting = true
        }
        // The header buffer starts with fuse_in_header.
        gate?.requestBegins(
          pid: FuseInHeader.pid(at: entry.header), waiting: false,
          now: FuseBridge.monotonicNanos())
        connection.handleRing(entry)
        gate?.requestEnds()
      } else if result == -EAGAIN || result == -EINTR {
        lock.withLock {
          inKernel -= 1
          prepare(entry)
        }
      } else {
        lock.withLock { inKernel -= 1 }
        gone += 1
      }
    }
  }

  /// A new entry, registered, while fewer than two wait in the kernel.
  private func grow() {
    while lock.withLock({ inKernel < 2 }), entries.count < maxDepth {
      let entry = FuseUringEntry(queue: self, index: entries.count, payloadSize: payloadSize)
      FuseUringRoutes.add([entry])
      lock.withLock {
        entries.append(entry)
        prepare(entry)
      }
    }
  }

  /// "free/entries" for /proc/vfs/connection: entries the kernel holds for
  /// new requests, of all the queue has.
  func state() -> String {
    lock.withLock { "\(inKernel)/\(entries.count)" }
  }

  // MARK: - Replies, on any thread

  /// Takes one of the queue's holds for the request in `entry`: false when
  /// `holdLimit` are taken (the caller then replies first).
  func tryHold(_ entry: FuseUringEntry) -> Bool {
    lock.withLock {
      guard entry.waiting, !entry.held, holding < holdLimit else { return false }
      entry.held = true
      holding += 1
      return true
    }
  }

  /// COMMIT_AND_FETCH for `entry` with the reply `iov`: 0, or -ENOENT when
  /// the entry holds no request (answered already, or the queue has ended).
  func commit(_ entry: FuseUringEntry, _ iov: [iovec], total: Int) -> Int32 {
    let onOwner = owner.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    let queued: Bool = lock.withLock {
      if entry.held {
        entry.held = false
        holding -= 1
      }
      guard !closed, entry.waiting else { return false }
      entry.waiting = false
      entry.store(iov, total: total)
      if onOwner {
        prepare(entry)
      } else {
        pending.append(entry.index)
      }
      return true
    }
    guard queued else { return -ENOENT }
    if !onOwner {
      var one: UInt64 = 1
      _ = write(eventFD, &one, 8)
    }
    return 0
  }
}

/// Replies find their ring entry by the descriptor value the dispatcher
/// was given: each entry has a negative tag no real descriptor has, and
/// FuseChannel.writev() hands a reply addressed to one to its entry, so the
/// opcode table (FuseDispatch) serves both transports unchanged.
enum FuseUringRoutes {
  private static let lock = Lock()
  nonisolated(unsafe) private static var next: Int32 = -1_000_000
  nonisolated(unsafe) private static var entries: [Int32: FuseUringEntry] = [:]

  /// True for a tag (never a descriptor).
  static func isTag(_ fd: Int32) -> Bool { fd <= -1_000_000 }

  static func nextTag() -> Int32 {
    lock.withLock {
      next = next == Int32.min ? -1_000_000 : next - 1
      return next
    }
  }

  static func add(_ list: [FuseUringEntry]) {
    lock.withLock { for e in list { entries[e.tag] = e } }
  }

  static func remove(_ list: [FuseUringEntry]) {
    lock.withLock { for e in list { entries.removeValue(forKey: e.tag) } }
  }

  /// Whether the request read from `fd` may be held on a worker: always
  /// for a real descriptor, else as its entry's queue decides (`tryHold`).
  static func tryHold(_ fd: Int32) -> Bool {
    guard isTag(fd) else { return true }
    guard let entry = lock.withLock({ entries[fd] }) else { return false }
    return entry.queue.tryHold(entry)
  }

  /// The reply `iov` to the entry `tag` names: 0 or a negative errno.
  static func send(_ tag: Int32, _ iov: [iovec], expected: Int) -> Int32 {
    guard let entry = lock.withLock({ entries[tag] }) else { return -ENOENT }
    return entry.queue.commit(entry, iov, total: expected)
  }
}
