import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// A poll waiter that counts its wake-ups.
final class DevCountingWaiter: PollWaiter, @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  func wake() { lock.withLock { count += 1 } }
  var wakes: Int { lock.withLock { count } }
}

/// Something set from another thread, with a deadline to wait for it.
final class DevFlag: @unchecked Sendable {
  private let cond = NSCondition()
  private var value: String?
  func set(_ v: String) {
    cond.lock()
    value = v
    cond.broadcast()
    cond.unlock()
  }
  var current: String? {
    cond.lock()
    defer { cond.unlock() }
    return value
  }
  /// The value once set, or nil after `timeout` seconds.
  func wait(_ timeout: Double) -> String? {
    cond.lock()
    defer { cond.unlock() }
    let deadline = Date().addingTimeInterval(timeout)
    while value == nil, cond.wait(until: deadline) {}
    return value
  }
}

/// The log device: records, blocking reads, O_NONBLOCK, poll, interruption.
final class DeviceLogTests: XCTestCase {
  var vfs: VFS!

  override func setUpWithError() throws {
    vfs = try devStandardVFS()
  }

  func text(_ file: File, count: Int = 4096) throws -> String {
    String(decoding: try vfs.devRead(file, count: count), as: UTF8.self)
  }

  func testReaderGetsRecordsWrittenSinceItOpened() throws {
    let (w, wf) = try vfs.devOpen("/dev/log", O_WRONLY)
    defer { vfs.release(w) }
    XCTAssertEqual(try vfs.devWrite(wf, "before\n"), 7)
    let (r, rf) = try vfs.devOpen("/dev/log", O_RDONLY | O_NONBLOCK)
    defer { vfs.release(r) }
    XCTAssertTrue(rf.nonSeekable)
    XCTAssertEqual(devThrown { try self.text(rf) }, .EAGAIN, "the earlier record is not for it")
    XCTAssertEqual(try vfs.devWrite(wf, "one\n"), 4)
    XCTAssertEqual(try vfs.devWrite(wf, "two\n", at: 999), 4)
    XCTAssertEqual(try vfs.devWrite(wf, ""), 0, "an empty write adds no record")
    XCTAssertEqual(try text(rf), "one\n", "one record per read")
    XCTAssertEqual(try text(rf), "two\n")
    XCTAssertEqual(devThrown { try self.text(rf) }, .EAGAIN)
    // A second reader has its own position.
    let (r2, rf2) = try vfs.devOpen("/dev/log", O_RDWR | O_NONBLOCK)
    defer { vfs.release(r2) }
    XCTAssertEqual(try vfs.devWrite(rf2, "three"), 5)
    XCTAssertEqual(try text(rf2), "three")
    XCTAssertEqual(try text(rf), "three")
  }

  func testRecordLimits() throws {
    let (fh, f) = try vfs.devOpen("/dev/log", O_RDWR | O_NONBLOCK)
    defer { vfs.release(fh) }
    XCTAssertEqual(
      devThrown { try vfs.devWrite(f, [UInt8](repeating: 65, count: LogDevice.maxRecord + 1)) },
      .EINVAL)
    XCTAssertEqual(try vfs.devWrite(f, [UInt8](repeating: 65, count: LogDevice.maxRecord)), 4096)
    XCTAssertEqual(try vfs.devWrite(f, "0123456789"), 10)
    XCTAssertEqual(try vfs.devRead(f, count: 8192).count, 4096)
    XCTAssertEqual(
      devThrown { try self.text(f, count: 5) }, .EINVAL, "a buffer too small for the record")
    XCTAssertEqual(try text(f, count: 10), "0123456789", "the record is still there")
  }

  func testOverrunReaderGetsEPIPEOnce() throws {
    let log = LogDevice(capacity: 4)
    let dev = try vfs.chrdevs.allocRegion(count: 1, name: "small-log")
    try vfs.chrdevs.add(.init(base: dev, name: "small-log", fileOps: LogDeviceProbe.fops(log)))
    try vfs.devtmpfsCreateNode("small-log", dev: dev, mode: 0o666)
    let (fh, f) = try vfs.devOpen("/dev/small-log", O_RDWR | O_NONBLOCK)
    defer { vfs.release(fh) }
    for i in 0..<6 { _ = try vfs.devWrite(f, "r\(i)") }
    XCTAssertEqual(devThrown { try self.text(f) }, Errno(EPIPE))
    XCTAssertEqual(try text(f), "r2", "then on from the oldest kept")
    XCTAssertEqual(try text(f), "r3")
    XCTAssertEqual(try text(f), "r4")
    XCTAssertEqual(try text(f), "r5")
    XCTAssertEqual(devThrown { try self.text(f) }, .EAGAIN)
  }

  func testBlockedReaderIsWokenByAWriter() throws {
    let vfs = self.vfs!
    let (r, rf) = try vfs.devOpen("/dev/log", O_RDONLY)
    defer { vfs.release(r) }
    let got = DevFlag()
    let reader = Thread {
      do {
        got.set(String(decoding: try vfs.devRead(rf, count: 100), as: UTF8.self))
      } catch {
        got.set("error \(error)")
      }
    }
    reader.start()
    let log = LogDeviceProbe.device(vfs)
    XCTAssertTrue(waitUntil { log.waitQueue.sleeperCount == 1 }, "the reader sleeps")
    XCTAssertNil(got.current)
    let (w, wf) = try vfs.devOpen("/dev/log", O_WRONLY)
    defer { vfs.release(w) }
    XCTAssertEqual(try vfs.devWrite(wf, "wake up\n"), 8)
    XCTAssertEqual(got.wait(5), "wake up\n")
    XCTAssertTrue(waitUntil { log.waitQueue.sleeperCount == 0 })
  }

  func testManyBlockedReadersAllWake() throws {
    let vfs = self.vfs!
    let flags = (0..<4).map { _ in DevFlag() }
    var handles: [UInt64] = []
    for flag in flags {
      let (fh, f) = try vfs.devOpen("/dev/log", O_RDONLY)
      handles.append(fh)
      Thread {
        flag.set((try? String(decoding: vfs.devRead(f, count: 100), as: UTF8.self)) ?? "error")
      }.start()
    }
    defer {
      for fh in handles { vfs.release(fh) }
    }
    let log = LogDeviceProbe.device(vfs)
    XCTAssertTrue(waitUntil { log.waitQueue.sleeperCount == 4 })
    log.append(Array("all".utf8))
    for flag in flags { XCTAssertEqual(flag.wait(5), "all") }
  }

  func testPoll() throws {
    let (r, rf) = try vfs.devOpen("/dev/log", O_RDONLY)
    defer { vfs.release(r) }
    let waiter = DevCountingWaiter()
    XCTAssertEqual(vfs.poll(rf, waiter: waiter), [.writable, .writeNormal])
    XCTAssertEqual(vfs.poll(rf, waiter: waiter), [.writable, .writeNormal])
    let log = LogDeviceProbe.device(vfs)
    XCTAssertEqual(log.waitQueue.pollWaiterCount, 1, "kept once")
    XCTAssertEqual(waiter.wakes, 0)
    let (w, wf) = try vfs.devOpen("/dev/log", O_WRONLY)
    defer { vfs.release(w) }
    _ = try vfs.devWrite(wf, "ready")
    XCTAssertEqual(waiter.wakes, 1)
    XCTAssertEqual(log.waitQueue.pollWaiterCount, 0, "woken once and dropped")
    let ready = DevCountingWaiter()
    XCTAssertEqual(vfs.poll(rf, waiter: ready), [.readable, .readNormal, .writable, .writeNormal])
    XCTAssertEqual(log.waitQueue.pollWaiterCount, 0, "not kept when ready")
    _ = try text(rf)
    XCTAssertEqual(vfs.poll(rf, waiter: nil), [.writable, .writeNormal])
    _ = try vfs.devWrite(wf, "more")
    XCTAssertEqual(ready.wakes, 0)
  }

  func testBlockedReadReturnsEINTRWhenInterrupted() throws {
    let vfs = self.vfs!
    let (r, rf) = try vfs.devOpen("/dev/log", O_RDONLY)
    defer { vfs.release(r) }
    let interruption = Interruption()
    let got = DevFlag()
    Thread {
      Interruption.withCurrent(interruption) {
        do {
          _ = try vfs.devRead(rf, count: 100)
          got.set("read")
        } catch {
          got.set((error as? Errno)?.name ?? "\(error)")
        }
      }
    }.start()
    let log = LogDeviceProbe.device(vfs)
    XCTAssertTrue(waitUntil { log.waitQueue.sleeperCount == 1 })
    interruption.interrupt()
    XCTAssertEqual(got.wait(5), "EINTR")
    XCTAssertTrue(interruption.isInterrupted)
    // The reader lost nothing: the next record is still there for it.
    log.append(Array("later".utf8))
    XCTAssertEqual(try text(rf), "later")
  }

  func testInterruptionBeforeTheWaitAndInterruptAll() throws {
    let vfs = self.vfs!
    let (r, rf) = try vfs.devOpen("/dev/log", O_RDONLY)
    defer { vfs.release(r) }
    let early = Interruption()
    early.interrupt()
    XCTAssertEqual(
      Interruption.withCurrent(early) { devThrown { try vfs.devRead(rf, count: 10) } }, .EINTR)
    XCTAssertNil(Interruption.current, "withCurrent restores the previous one")
    // interruptAll wakes even a sleeper without an Interruption of its own (teardown).
    let got = DevFlag()
    Thread {
      got.set(devThrown { try vfs.devRead(rf, count: 10) }?.name ?? "read")
    }.start()
    let log = LogDeviceProbe.device(vfs)
    XCTAssertTrue(waitUntil { log.waitQueue.sleeperCount == 1 })
    Interruption.interruptAll()
    XCTAssertEqual(got.wait(5), "EINTR")
  }

  func testCurrentIsPerThread() {
    let mine = Interruption()
    Interruption.current = mine
    defer { Interruption.current = nil }
    let other = DevFlag()
    Thread { other.set(Interruption.current == nil ? "none" : "some") }.start()
    XCTAssertEqual(other.wait(5), "none")
    XCTAssertTrue(Interruption.current === mine)
  }

  func testWaitQueueBasics() throws {
    let queue = WaitQueue()
    try queue.wait(until: { true })
    XCTAssertFalse(try queue.wait(until: { false }, timeout: 0.05))
    let flag = DevFlag()
    let state = DevFlag()
    Thread {
      let ok = (try? queue.wait(until: { state.current != nil }, timeout: 10)) ?? false
      flag.set(ok ? "woken" : "timed out")
    }.start()
    XCTAssertTrue(waitUntil { queue.sleeperCount == 1 })
    state.set("go")
    queue.wakeAll()
    XCTAssertEqual(flag.wait(5), "woken")
    // pollWait: not ready keeps the waiter; ready does not.
    let w = DevCountingWaiter()
    XCTAssertFalse(queue.pollWait(w) { false })
    XCTAssertTrue(queue.pollWait(DevCountingWaiter()) { true })
    XCTAssertEqual(queue.pollWaiterCount, 1)
    queue.wakeAll()
    queue.wakeAll()
    XCTAssertEqual(w.wakes, 1)
  }

  func testSleepersAreBounded() throws {
    let vfs = self.vfs!
    let saved = WaitQueue.sleeperLimit
    WaitQueue.sleeperLimit = 2
    defer { WaitQueue.sleeperLimit = saved }
    let flags = (0..<2).map { _ in DevFlag() }
    var handles: [UInt64] = []
    defer {
      for fh in handles { vfs.release(fh) }
    }
    for flag in flags {
      let (fh, f) = try vfs.devOpen("/dev/log", O_RDONLY)
      handles.append(fh)
      Thread {
        flag.set((try? String(decoding: vfs.devRead(f, count: 100), as: UTF8.self)) ?? "error")
      }
      .start()
    }
    XCTAssertTrue(waitUntil { WaitQueue.totalSleepers == 2 })
    // A third sleeper would take the last thread: it is refused, not parked.
    let (fh, f) = try vfs.devOpen("/dev/log", O_RDONLY)
    handles.append(fh)
    XCTAssertEqual(devThrown { try vfs.devRead(f, count: 100) }, .EAGAIN)
    LogDeviceProbe.device(vfs).append(Array("go".utf8))
    for flag in flags { XCTAssertEqual(flag.wait(5), "go") }
    XCTAssertEqual(try text(f), "go", "the refused reader lost nothing")
    XCTAssertTrue(waitUntil { WaitQueue.totalSleepers == 0 })
  }

  /// Polls `condition` for up to 5 s.
  func waitUntil(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline {
      if condition() { return true }
      usleep(2000)
    }
    return condition()
  }
}

/// Reaches the built-in log device of a standard VFS.
enum LogDeviceProbe {
  static func device(_ vfs: VFS) -> LogDevice {
    // The built-ins were registered by VFS.standard; find the log's driver.
    let dev = vfs.chrdevs.allRegions.first { $0.name == "log" }!.base
    return (vfs.chrdevs.cdev(for: dev)!.fileOps as! LogFileOperations).device
  }

  static func fops(_ log: LogDevice) -> FileOperations { log.fileOperations }
}
