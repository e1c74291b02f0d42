import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

/// The request table (calls, errors, mean and p99 latency per opcode) and
/// the trace stream: blocking reads, lost lines, interruption.
final class ProcRequestsTests: XCTestCase {
  func record(
    _ stats: RequestStats, _ opcode: String, ino: UInt64 = 1, error: Errno? = nil,
    nanos: UInt64 = 1000
  ) {
    stats.record(
      .init(
        opcode: opcode, operation: "op.\(opcode.lowercased())", ino: ino, detail: "d",
        fileSystem: "memfs", error: error, latencyNanos: nanos))
  }

  func testCountsMeanAndP99() {
    let stats = fuseRequestTable()
    for us in 1...100 { record(stats, "READ", nanos: UInt64(us) * 1000) }
    record(stats, "READ", error: .EIO, nanos: 10_000_000)  // one slow failure
    let row = stats.row("READ")!
    XCTAssertEqual(row.code, 15)
    XCTAssertTrue(row.handled)
    XCTAssertEqual(row.operation, "op.read")
    XCTAssertEqual(row.calls, 101)
    XCTAssertEqual(row.errors, 1)
    XCTAssertEqual(row.meanNanos, (5050 * 1000 + 10_000_000) / 101)
    XCTAssertEqual(row.maxNanos, 10_000_000)
    // The 100th of 101 samples is 100 us: the bucket holding it is within 12.5%.
    XCTAssertGreaterThanOrEqual(row.p99Nanos, 100_000)
    XCTAssertLessThanOrEqual(row.p99Nanos, 112_500)

    stats.reset()
    let cleared = stats.row("READ")!
    XCTAssertEqual(cleared.calls, 0)
    XCTAssertEqual(cleared.p99Nanos, 0)
    XCTAssertTrue(cleared.handled)
  }

  func testHistogramBuckets() {
    var last = -1
    for v: UInt64 in [0, 1, 7, 8, 9, 15, 16, 17, 18, 1000, 1 << 40, UInt64.max] {
      let b = Histogram.bucket(v)
      XCTAssertGreaterThanOrEqual(b, last, "\(v)")
      XCTAssertLessThan(b, Histogram.bucketCount)
      XCTAssertGreaterThanOrEqual(Histogram.upperBound(b), v, "\(v)")
      if b > 0 { XCTAssertLessThan(Histogram.upperBound(b - 1), v, "\(v)") }
      last = b
    }
    XCTAssertEqual(Histogram.upperBound(Histogram.bucketCount - 1), UInt64.max)
  }

  func testDeclaredAndUnhandledOpcodes() {
    let stats = RequestStats()
    XCTAssertEqual(stats.table.count, 0, "the core knows no transport's requests")
    stats.declareKinds(FuseOpcode.kernelTable)
    stats.declareKinds([(99, "IGNORED")])  // only the first list counts
    XCTAssertEqual(stats.table.count, FuseOpcode.kernelTable.count)
    XCTAssertFalse(stats.row("LOOKUP")!.handled)
    stats.declare("LOOKUP", operation: "inode_operations.lookup")
    stats.declare("GETLK", operation: nil)
    XCTAssertTrue(stats.row("LOOKUP")!.handled)
    XCTAssertEqual(stats.row("LOOKUP")!.operation, "inode_operations.lookup")
    XCTAssertFalse(stats.row("GETLK")!.handled)
    // An opcode the kernel list lacks gets a row of its own, at the end.
    record(stats, "FUTURE_OP")
    XCTAssertEqual(stats.table.last?.opcode, "FUTURE_OP")
    XCTAssertEqual(stats.table.last?.code, 0)
    XCTAssertEqual(
      stats.table.map(\.code).filter { $0 > 0 }, FuseOpcode.kernelTable.map(\.code))
  }

  func testNothingIsTracedWhenNobodyReads() {
    let stats = fuseRequestTable()
    XCTAssertFalse(stats.tracing)
    let r = RequestStats.Record(
      opcode: "GETATTR", operation: "inode_operations.getattr", ino: 1, detail: "",
      fileSystem: "memfs", error: nil, latencyNanos: 900)
    stats.record(r)
    XCTAssertEqual(stats.trace.lineCount, 0)
    XCTAssertEqual(stats.trace.size, 0)
    for _ in 0..<100_000 { stats.record(r) }
    XCTAssertEqual(stats.row("GETATTR")!.calls, 100_001)
    XCTAssertEqual(stats.trace.lineCount, 0)
  }

  func readAll(_ ring: TraceRing, _ reader: TraceRing.Reader, from offset: inout Int64) throws
    -> String
  {
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
      try ring.read(reader, into: b, at: offset, nonBlocking: true)
    }
    offset += Int64(n)
    return String(decoding: buffer[0..<n], as: UTF8.self)
  }

  func testTraceStreamsRecordedRequests() throws {
    let stats = fuseRequestTable()
    let ring = stats.trace
    let reader = ring.attach()
    XCTAssertTrue(stats.tracing)
    var offset: Int64 = 0
    XCTAssertEqual(try readAll(ring, reader, from: &offset), TraceRing.header)
    assertProcErrno(.EAGAIN, try readAll(ring, reader, from: &offset))

    stats.record(
      .init(
        opcode: "LOOKUP", operation: "inode_operations.lookup", ino: 7, detail: "hello",
        fileSystem: "memfs", error: .ENOENT, latencyNanos: 15_400))
    let line = try readAll(ring, reader, from: &offset)
    let f = line.split(separator: " ").map(String.init)
    XCTAssertEqual(
      Array(f.dropFirst()),
      ["LOOKUP", "7", "hello", "->", "inode_operations.lookup", "memfs", "ENOENT", "15.4\n"])
    XCTAssertNotNil(Double(f[0]))
    XCTAssertEqual(ring.size, offset)

    // The trace's own inode is not traced.
    ring.hide(ino: 99)
    record(stats, "READ", ino: 99)
    assertProcErrno(.EAGAIN, try readAll(ring, reader, from: &offset))

    // The last reader's close ends the stream; the next open starts afresh.
    ring.detach(reader)
    XCTAssertFalse(stats.tracing)
    XCTAssertEqual(ring.size, 0)
    record(stats, "READ")
    let again = ring.attach()
    defer { ring.detach(again) }
    var o2: Int64 = 0
    XCTAssertEqual(try readAll(ring, again, from: &o2), TraceRing.header)
  }

  func testSlowReaderLosesLinesCountedAndReported() throws {
    let ring = TraceRing(capacity: 4)
    let reader = ring.attach()
    defer { ring.detach(reader) }
    var offset: Int64 = 0
    _ = try readAll(ring, reader, from: &offset)  // the header
    for i in 0..<10 { ring.append(line: "line \(i)") }
    // Lines 0-5 were pushed out before the reader came back.
    let text = try readAll(ring, reader, from: &offset)
    XCTAssertEqual(
      text, "# lost 6 lines: reader too slow\nline 6\nline 7\nline 8\nline 9\n")
    XCTAssertEqual(ring.lostLines, 6)
    // It reads on from where it is, with nothing more lost.
    ring.append(line: "line 10")
    XCTAssertEqual(try readAll(ring, reader, from: &offset), "line 10\n")
    XCTAssertEqual(ring.lostLines, 6)
    // A second reader that starts late is not told of lines before it came.
    let late = ring.attach()
    defer { ring.detach(late) }
    var o2: Int64 = 0
    XCTAssertEqual(try readAll(ring, late, from: &o2), "line 7\nline 8\nline 9\nline 10\n")
    XCTAssertEqual(ring.lostLines, 6)
    ring.resetCounters()
    XCTAssertEqual(ring.lostLines, 0)
  }

  func testWholeLinesUnlessOneDoesNotFit() throws {
    let ring = TraceRing()
    let reader = ring.attach()
    defer { ring.detach(reader) }
    var offset = Int64(TraceRing.header.utf8.count)
    ring.append(line: "aaaa")
    ring.append(line: "bbbb")
    var buffer = [UInt8](repeating: 0, count: 7)
    func read() throws -> String {
      let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
        try ring.read(reader, into: b, at: offset, nonBlocking: true)
      }
      offset += Int64(n)
      return String(decoding: buffer[0..<n], as: UTF8.self)
    }
    XCTAssertEqual(try read(), "aaaa\n")
    buffer = [UInt8](repeating: 0, count: 3)
    XCTAssertEqual(try read(), "bbb")
    XCTAssertEqual(try read(), "b\n")
  }

  func testBlockedReaderWakesOnARecord() throws {
    let stats = fuseRequestTable()
    let reader = stats.trace.attach()
    defer { stats.trace.detach(reader) }
    let start = Int64(TraceRing.header.utf8.count)
    let thread = Thread { [stats] in
      usleep(100_000)
      stats.record(
        .init(
          opcode: "WRITE", operation: "file_operations.write", ino: 3, detail: "off=0 size=5",
          fileSystem: "memfs", error: nil, latencyNanos: 2000))
    }
    let began = Date()
    thread.start()
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
      try stats.trace.read(reader, into: b, at: start, nonBlocking: false)
    }
    XCTAssertGreaterThan(Date().timeIntervalSince(began), 0.05)
    XCTAssertTrue(String(decoding: buffer[0..<n], as: UTF8.self).contains(" WRITE "))
  }

  func testBlockedReaderReturnsEINTRWhenInterrupted() throws {
    let ring = TraceRing()
    let reader = ring.attach()
    defer { ring.detach(reader) }
    let interruption = Interruption()
    let thread = Thread {
      usleep(100_000)
      interruption.interrupt()
    }
    thread.start()
    var buffer = [UInt8](repeating: 0, count: 4096)
    let start = Int64(TraceRing.header.utf8.count)
    assertProcErrno(
      .EINTR,
      try Interruption.withCurrent(interruption) { () throws -> Int in
        try buffer.withUnsafeMutableBytes { b throws(Errno) in
          try ring.read(reader, into: b, at: start, nonBlocking: false)
        }
      })
  }

  func testCloseEndsReads() throws {
    let ring = TraceRing()
    let reader = ring.attach()
    defer { ring.detach(reader) }
    let thread = Thread {
      usleep(50_000)
      ring.close()
    }
    thread.start()
    var buffer = [UInt8](repeating: 0, count: 4096)
    let start = Int64(TraceRing.header.utf8.count)
    let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
      try ring.read(reader, into: b, at: start, nonBlocking: false)
    }
    XCTAssertEqual(n, 0)
  }

  /// Several threads record while one reader drains the trace: the table
  /// counts every request, and every line is either read or counted lost.
  func testConcurrentRecordsAndAReader() throws {
    let stats = fuseRequestTable()
    let reader = stats.trace.attach()
    defer { stats.trace.detach(reader) }
    let writers = 4
    let perWriter = 5000
    let group = DispatchGroup()
    for w in 0..<writers {
      group.enter()
      Thread {
        for i in 0..<perWriter {
          stats.record(
            .init(
              opcode: i % 2 == 0 ? "GETATTR" : "LOOKUP", operation: "op", ino: UInt64(w),
              detail: "n\(i)", fileSystem: "memfs", error: nil, latencyNanos: UInt64(i)))
        }
        group.leave()
      }.start()
    }
    var offset: Int64 = 0
    var lines = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    func drain() throws {
      while true {
        let n: Int
        do {
          n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
            try stats.trace.read(reader, into: b, at: offset, nonBlocking: true)
          }
        } catch let error as Errno where error == .EAGAIN {
          return
        }
        offset += Int64(n)
        for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n")
        where !line.hasPrefix("# lost") {
          lines += 1
        }
      }
    }
    while group.wait(timeout: .now() + .milliseconds(1)) == .timedOut { try drain() }
    try drain()
    XCTAssertEqual(
      stats.row("GETATTR")!.calls + stats.row("LOOKUP")!.calls, UInt64(writers * perWriter))
    XCTAssertEqual(stats.trace.lineCount, UInt64(writers * perWriter + 1))
    XCTAssertEqual(UInt64(lines) + stats.trace.lostLines, stats.trace.lineCount)
  }

  /// Through the VFS: the trace file is traced while open, and a reader of it
  /// sees what the bridge records.
  func testTraceFileThroughTheVFS() throws {
    let h = try ProcHarness()
    let trace = try h.inode("proc/vfs/trace")
    XCTAssertFalse(h.vfs.requests.tracing)
    let (fh, file) = try h.vfs.open(trace, flags: O_RDONLY | O_NONBLOCK, cred: .root)
    XCTAssertTrue(file.directIO)
    XCTAssertTrue(h.vfs.requests.tracing)
    XCTAssertEqual(h.vfs.poll(file, waiter: nil), [.readable, .readNormal])  // the header

    var offset: Int64 = 0
    var buffer = [UInt8](repeating: 0, count: 8192)
    func read() throws -> String {
      let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
        try h.vfs.read(file, into: b, at: offset)
      }
      offset += Int64(n)
      return String(decoding: buffer[0..<n], as: UTF8.self)
    }
    XCTAssertEqual(try read(), TraceRing.header)
    XCTAssertEqual(h.vfs.poll(file, waiter: nil), [])
    assertProcErrno(.EAGAIN, try read())

    h.vfs.requests.record(
      .init(
        opcode: "GETATTR", operation: "inode_operations.getattr", ino: trace.ino, detail: "",
        fileSystem: "proc", error: nil, latencyNanos: 1000))  // its own: not traced
    h.vfs.requests.record(
      .init(
        opcode: "OPEN", operation: "file_operations.open", ino: 42, detail: "flags=0o0",
        fileSystem: "memfs", error: nil, latencyNanos: 3000))
    let text = try read()
    XCTAssertTrue(text.contains(" OPEN "), text)
    XCTAssertFalse(text.contains("GETATTR"), text)
    XCTAssertEqual(try h.vfs.getattr(trace).size, offset)

    let table = try h.read("proc/vfs/requests")
    XCTAssertTrue(table.contains("# trace: 1 readers, 2 lines, 0 lost"), table)
    h.vfs.release(fh)
    XCTAssertFalse(h.vfs.requests.tracing)
  }
}

/// A request table with the FUSE opcodes declared, as the bridge makes it.
func fuseRequestTable() -> RequestStats {
  let stats = RequestStats()
  stats.declareKinds(FuseOpcode.kernelTable)
  return stats
}
