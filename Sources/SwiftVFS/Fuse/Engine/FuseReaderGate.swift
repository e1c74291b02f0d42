import SwiftVFSCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One reader, spinning briefly, while requests come one at a time
/// (read/write transport), and the same spin on the ring.
///
/// Why: a client that waits for each answer (a shell command, `cp`, fio
/// with one job, or two writers of one file taking turns through its lock)
/// wakes a sleeping reader for every request. On a virtual machine whose
/// idle CPUs halt, waking a reader asleep on the other CPU costs an
/// interprocessor interrupt and a halt exit each time: with one fio job,
/// 4 KiB O_DIRECT reads of ext2 took 28-31 µs on a 2-CPU VM where fuse2fs
/// (libfuse 2.9) took 19-24. A reader that, after its reply, keeps reading
/// for a few microseconds finds the next request without sleeping, and
/// with the other readers parked nobody else is woken: 20-24 µs there,
/// against fuse2fs's 20-22 in the same runs; two fio jobs writing one file
/// with O_DIRECT, 53-58 µs per write in 6 of 7 runs against 94-114 without
/// and fuse2fs's 84-120.
///
/// How: every reader reports each request it reads (`requestBegins`) and
/// when it is done with it (`requestEnds`). After `hotRun` requests in a
/// row that came one at a time (none other was being served when it was
/// read, and the lead did not find another process's request already
/// waiting the moment it came back from a reply) the gate turns hot: the
/// lead reader (thread 0) reads its non-blocking descriptor for up to
/// `spinNanos` before it sleeps in read(2), and the other readers park
/// here. A request that overlaps another turns it cold at once and wakes
/// them, so concurrent clients are served in parallel as before. A parked
/// reader wakes every `parkNanos` and turns the gate cold when requests
/// stopped (none for that long) or when the lead has been inside one
/// request that long (it may be waiting for another request, which a
/// parked reader must then serve), so parking never holds up anything for
/// longer than that. FORGET and INTERRUPT carry no pid: the kernel sends
/// them on its own, and they count neither way.
///
/// The io_uring transport shares one gate among its queues (no reader parks
/// there: each CPU has its own queue): while hot, a queue thread looks at
/// its completion queue for up to `spinNanos` after committing a reply,
/// before it sleeps in io_uring_enter. One-job O_DIRECT reads took 15-25 µs
/// there without it (when fio moved between CPUs, up to 31), 13.2-14.1 µs
/// with it. The rmdir tree pays for it (46-51 ms against 37-39; each rmdir
/// also sends a FORGET on /dev/fuse), for a reason not found yet.
final class FuseReaderGate: @unchecked Sendable {
  /// How long the lead keeps reading after a reply before it sleeps
  /// (`FuseBridge.Options.busyPollMicroseconds`): by default 20 µs, about
  /// one client round trip (the client wakes, returns from its syscall and
  /// makes the next).
  let spinNanos: UInt64
  /// How long a parked reader sleeps before it checks on the lead.
  static let parkNanos: UInt64 = 5_000_000
  /// Requests in a row, one at a time, before the gate turns hot.
  static let hotRun = 64

  /// A gate whose lead spins `spinMicroseconds` after each reply.
  init(spinMicroseconds: Int = 20) {
    spinNanos = UInt64(max(spinMicroseconds, 0)) * 1000
  }

  private let condition = ConditionLock()
  private let hotFlag = Atomic<Bool>(false)
  /// Requests being served now (read, not yet answered or handed off).
  private let inFlight = Atomic<Int>(0)
  /// The process of the last request with one.
  private let lastPid = Atomic<UInt32>(0)
  private let run = Atomic<Int>(0)
  /// When the last request was read (CLOCK_MONOTONIC nanoseconds).
  private let lastRequest = Atomic<UInt64>(0)
  /// When the lead started on its current request; 0 between requests.
  private let leadBusySince = Atomic<UInt64>(0)

  /// Times the gate turned hot, and requests the lead's spin found.
  private let spells = Atomic<Int>(0)
  private let foundSpinning = Atomic<Int>(0)

  /// Whether requests come one at a time, served by the lead alone.
  var isHot: Bool { hotFlag.load(ordering: .relaxed) }

  /// A request was read. `waiting`: the lead found it at its first look
  /// after a reply, so it was sent while the last one was being served.
  /// Every call is followed by one `requestEnds()`.
  func requestBegins(pid: UInt32, waiting: Bool, now: UInt64) {
    let others = inFlight.add(1, ordering: .relaxed).oldValue
    lastRequest.store(now, ordering: .relaxed)
    guard pid != 0 else { return }
    // Found waiting is overlap only from another process: the same one may
    // have been quick, or have run while the lead was preempted.
    let previous = lastPid.exchange(pid, ordering: .relaxed)
    if others > 0 || (waiting && previous != pid) {
      run.store(0, ordering: .relaxed)
      if isHot { turnCold() }
      return
    }
    let count = run.add(1, ordering: .relaxed).newValue
    if count >= FuseReaderGate.hotRun, !isHot, !leadIsStuck(now: now) {
      hotFlag.store(true, ordering: .relaxed)
      spells.add(1, ordering: .relaxed)
    }
  }

  /// The request `requestBegins` reported is answered, or handed to a
  /// worker.
  func requestEnds() { inFlight.subtract(1, ordering: .relaxed) }

  /// The lead's spin found a request.
  func noteFoundSpinning() { foundSpinning.add(1, ordering: .relaxed) }

  /// "lone_client hot|cold, N spells, M found spinning" for
  /// /proc/vfs/connection.
  func report() -> String {
    let spells = spells.load(ordering: .relaxed)
    let found = foundSpinning.load(ordering: .relaxed)
    return "lone_client \(isHot ? "hot" : "cold"), \(spells) spells, \(found) found spinning\n"
  }

  /// The lead starts (`now`) or ends (0) a request.
  func leadBusy(since now: UInt64) { leadBusySince.store(now, ordering: .relaxed) }

  /// A reader other than the lead: returns at once while cold; while hot,
  /// sleeps until cold (or `stopping`).
  func parkWhileHot(stopping: borrowing Atomic<Bool>) {
    guard isHot else { return }
    condition.lock()
    defer { condition.unlock() }
    while isHot, !stopping.load(ordering: .acquiring) {
      _ = condition.wait(until: ConditionLock.deadline(after: Double(Self.parkNanos) / 1e9))
      let now = FuseBridge.monotonicNanos()
      if now &- lastRequest.load(ordering: .relaxed) > Self.parkNanos || leadIsStuck(now: now) {
        hotFlag.store(false, ordering: .relaxed)
      }
    }
  }

  /// Wakes every parked reader (the engine is ending).
  func turnCold() {
    hotFlag.store(false, ordering: .relaxed)
    condition.withLock { condition.wakeAll() }
  }

  private func leadIsStuck(now: UInt64) -> Bool {
    let since = leadBusySince.load(ordering: .relaxed)
    return since != 0 && now &- since > Self.parkNanos
  }
}

extension FuseInHeader {
  /// fuse_in_header.pid (offset 32) of the request at `start`, read without
  /// decoding the rest: the gate looks at every request before it is decoded.
  static func pid(at start: UnsafeRawPointer) -> UInt32 {
    UInt32(littleEndian: start.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
  }
}
