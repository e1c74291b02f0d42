// The page cache (Sources/SwiftVFS/Block): buffers and file pages on RAM
// disks, the hit/miss and byte counters, writeback on sync, under the bound
// and from the flusher (with an injected clock), truncation, device errors
// (a failing driver), the /proc text and trace lines, a seeded random run
// checked against byte-array models, and threads working at once.

import Foundation
import XCTest

@testable import SwiftVFSBlock
@testable import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A RAM disk whose reads and writes can be made to fail with EIO, and that
/// counts what reached it.
private final class FailingDriver: BlockDriver, @unchecked Sendable {
  let disk: RamDisk
  private let lock = Lock()
  private var _failReads = false
  private var _failWrites = false

  init(sizeInBytes: UInt64) { disk = RamDisk(sizeInBytes: sizeInBytes) }

  var sizeInBytes: UInt64 { disk.sizeInBytes }
  var failReads: Bool {
    get { lock.withLock { _failReads } }
    set { lock.withLock { _failReads = newValue } }
  }
  var failWrites: Bool {
    get { lock.withLock { _failWrites } }
    set { lock.withLock { _failWrites = newValue } }
  }

  func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    if failReads { throw .EIO }
    try disk.read(at: offset, into: buffer)
  }
  func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    if failWrites { throw .EIO }
    try disk.write(at: offset, from: buffer)
  }
  func flush() throws(Errno) {}
}

/// A test file system's page operations: page `i` of inode `ino` lives at
/// device blocks `(ino * pagesPerFile + i) * blocksPerPage ...`, contiguous,
/// unless the page is a hole; bytes past a file's size read as zeros.
private final class TestFileOps: AddressSpaceOperations, @unchecked Sendable {
  let cache: PageCache
  let device: BlockDevice
  let blockSize: Int
  let pagesPerFile: UInt64
  private let lock = Lock()
  private var _reads = 0
  private var _writes = 0
  private var holes: Set<UInt64> = []  // pages of inode 0 never written
  private var sizes: [UInt64: UInt64] = [:]

  init(cache: PageCache, device: BlockDevice, blockSize: Int = 1024, pagesPerFile: UInt64 = 64) {
    self.cache = cache
    self.device = device
    self.blockSize = blockSize
    self.pagesPerFile = pagesPerFile
  }

  var reads: Int { lock.withLock { _reads } }
  var writes: Int { lock.withLock { _writes } }
  func makeHole(page: UInt64) { lock.withLock { _ = holes.insert(page) } }
  func setSize(_ size: UInt64, ino: UInt64) { lock.withLock { sizes[ino] = size } }
  func size(ino: UInt64) -> UInt64? { lock.withLock { sizes[ino] } }

  /// The device byte offset of page `index` of `ino`.
  func deviceOffset(ino: UInt64, index: UInt64) -> UInt64 {
    (ino * pagesPerFile + index) * UInt64(PageCache.pageSize)
  }

  func blocks(ino: UInt64, index: UInt64) -> [UInt64?] {
    let perPage = PageCache.pageSize / blockSize
    if ino == 0, lock.withLock({ holes.contains(index) }) {
      return Array(repeating: nil, count: perPage)
    }
    let first = deviceOffset(ino: ino, index: index) / UInt64(blockSize)
    return (0..<perPage).map { first + UInt64($0) }
  }

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    guard index < pagesPerFile else { throw .EFBIG }
    lock.withLock { _reads += 1 }
    try cache.readBlocks(
      blocks(ino: mapping.ino, index: index), blockSize: blockSize, from: device, into: page)
    if let size = size(ino: mapping.ino) {
      let start = index * UInt64(PageCache.pageSize)
      if size < start + UInt64(page.count) {
        let from = Int(size > start ? size - start : 0)
        memset(page.baseAddress! + from, 0, page.count - from)
      }
    }
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    guard index < pagesPerFile else { throw .EFBIG }
    lock.withLock {
      _writes += 1
      if mapping.ino == 0 { holes.remove(index) }  // "allocated" at writeback
    }
    try cache.writeBlocks(
      blocks(ino: mapping.ino, index: index), blockSize: blockSize, to: device, from: page)
  }
}

/// Page operations that take runs of pages: page `i` of any file is device
/// block `i` (4 KiB blocks); each writepage / writepages call is recorded as
/// (first index, count), and `failRuns` makes writepages fail with EIO.
private final class RunFileOps: AddressSpaceOperations, @unchecked Sendable {
  let cache: PageCache
  let device: BlockDevice
  private let lock = Lock()
  private var _calls: [[UInt64]] = []
  private var _failRuns = false

  init(cache: PageCache, device: BlockDevice) {
    self.cache = cache
    self.device = device
  }

  var writesPageRuns: Bool { true }
  var calls: [[UInt64]] { lock.withLock { _calls } }
  var failRuns: Bool {
    get { lock.withLock { _failRuns } }
    set { lock.withLock { _failRuns = newValue } }
  }

  private func blocks(_ index: UInt64, _ count: Int) -> [UInt64?] {
    (0..<count).map { index + UInt64($0) }
  }

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try cache.readBlocks(blocks(index, 1), blockSize: 4096, from: device, into: page)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    lock.withLock { _calls.append([index, 1]) }
    try cache.writeBlocks(blocks(index, 1), blockSize: 4096, to: device, from: page)
  }

  func writepages(
    _ mapping: AddressSpace, index: UInt64, count: Int, from pages: UnsafeRawBufferPointer
  ) throws(Errno) {
    lock.withLock { _calls.append([index, UInt64(count)]) }
    if failRuns { throw .EIO }
    try cache.writeBlocks(blocks(index, count), blockSize: 4096, to: device, from: pages)
  }
}

/// A clock the test sets by hand.
private final class ManualClock: @unchecked Sendable {
  private let lock = Lock()
  private var value = 0.0
  var now: Double {
    get { lock.withLock { value } }
    set { lock.withLock { value = newValue } }
  }
}

/// Trace lines collected from the hook.
private final class TraceLog: @unchecked Sendable {
  private let lock = Lock()
  private var _lines: [String] = []
  func append(_ event: PageCacheTraceEvent) { lock.withLock { _lines.append(event.line) } }
  var lines: [String] { lock.withLock { _lines } }
}

/// `count` bytes of the medium at `offset`, read past the cache.
private func deviceBytes(_ driver: FailingDriver, at offset: UInt64, count: Int) throws -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  try bytes.withUnsafeMutableBytes { try driver.disk.read(at: offset, into: $0) }
  return bytes
}

private func putDeviceBytes(_ driver: FailingDriver, at offset: UInt64, _ bytes: [UInt8]) throws {
  try bytes.withUnsafeBytes { try driver.disk.write(at: offset, from: $0) }
}

private func readBytes(_ mapping: AddressSpace, at offset: UInt64, count: Int) throws -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  try bytes.withUnsafeMutableBytes { try mapping.read(at: offset, into: $0) }
  return bytes
}

private func writeBytes(_ mapping: AddressSpace, at offset: UInt64, _ bytes: [UInt8]) throws {
  try bytes.withUnsafeBytes { try mapping.write(at: offset, from: $0) }
}

private func pattern(_ seed: Int, count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
}

final class PageCacheTests: XCTestCase {
  private func makeDevice(
    bytes: UInt64 = 8 << 20, name: String = "ram0", logicalBlockSize: Int = 512
  ) throws -> (BlockDevice, FailingDriver) {
    let driver = FailingDriver(sizeInBytes: bytes)
    let device = try BlockDevice(
      name: name, dev: DevT(major: 1, minor: 0), driver: driver,
      logicalBlockSize: logicalBlockSize)
    return (device, driver)
  }

  // MARK: - Buffers

  func testBufferReadThroughCountsHitsAndMissesAndTraces() throws {
    let (device, driver) = try makeDevice()
    let block3 = pattern(3, count: 1024)
    try putDeviceBytes(driver, at: 3 * 1024, block3)
    let cache = PageCache()
    let trace = TraceLog()
    cache.traceHook = { trace.append($0) }
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)

    let first = try buffers.read(block: 3)
    XCTAssertEqual(first.bytes, block3)
    XCTAssertTrue(first.isUptodate)
    XCTAssertFalse(first.isDirty)
    first.release()
    XCTAssertEqual(cache.stats.misses, 1)
    XCTAssertEqual(cache.stats.hits, 0)
    XCTAssertEqual(cache.stats.pagesRead, 1)
    XCTAssertEqual(cache.stats.bufferBytes, 1024)
    XCTAssertEqual(cache.stats.cachedBytes, 0)

    let second = try buffers.read(block: 3)
    XCTAssertEqual(second.bytes, block3)
    XCTAssertEqual(cache.stats.hits, 1)
    XCTAssertEqual(cache.stats.misses, 1)
    XCTAssertEqual(device.stats.readsCompleted, 1, "a hit must not reach the device")
    XCTAssertEqual(
      trace.lines, ["buffer miss ram0 block 3", "bio READ ram0 sectors 6..7 (1024 bytes)"])
  }

  func testBufferWriteAndSyncLandOnTheDeviceForEveryBlockSize() throws {
    for blockSize in [1024, 2048, 4096] {
      let (device, driver) = try makeDevice()
      let cache = PageCache()
      let buffers = try BufferCache(cache: cache, device: device, blockSize: blockSize)
      let data = pattern(blockSize, count: blockSize)

      let bh = try buffers.read(block: 5)
      bh.modify { bytes in bytes.copyBytes(from: data) }
      XCTAssertTrue(bh.isDirty)
      XCTAssertEqual(cache.stats.dirtyBytes, UInt64(blockSize))
      XCTAssertEqual(
        try deviceBytes(driver, at: UInt64(5 * blockSize), count: blockSize),
        [UInt8](repeating: 0, count: blockSize), "nothing written before sync")
      try bh.sync()
      XCTAssertFalse(bh.isDirty)
      XCTAssertEqual(cache.stats.dirtyBytes, 0)
      XCTAssertEqual(try deviceBytes(driver, at: UInt64(5 * blockSize), count: blockSize), data)

      // getblk + modify of a block never read, then the device-wide sync.
      let fresh = try buffers.get(block: 7)
      XCTAssertFalse(fresh.isUptodate)
      try fresh.replace(at: 10, with: [1, 2, 3])
      XCTAssertTrue(fresh.isUptodate && fresh.isDirty)
      fresh.release()
      let flushesBefore = device.stats.flushesCompleted
      try buffers.sync()
      XCTAssertEqual(device.stats.flushesCompleted, flushesBefore + 1)
      var expected = [UInt8](repeating: 0, count: blockSize)
      expected[10...12] = [1, 2, 3]
      XCTAssertEqual(try deviceBytes(driver, at: UInt64(7 * blockSize), count: blockSize), expected)
      XCTAssertEqual(cache.stats.pagesWritten, 2)
      XCTAssertEqual(buffers.dirtyBufferCount, 0)
    }
  }

  func testBufferCacheRefusesBadBlockSizesAndBlocksPastTheEnd() throws {
    let (device, _) = try makeDevice(bytes: 64 * 1024, logicalBlockSize: 2048)
    let cache = PageCache()
    for size in [0, 256, 1024, 3000, 8192] {
      XCTAssertEqual(
        errnoOf { _ = try BufferCache(cache: cache, device: device, blockSize: size) }, .EINVAL,
        "block size \(size)")
    }
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 2048)
    XCTAssertEqual(buffers.blockCount, 32)
    XCTAssertEqual(errnoOf { _ = try buffers.read(block: 32) }, .EIO)
    XCTAssertEqual(errnoOf { _ = try buffers.read(block: .max) }, .EIO)
    XCTAssertEqual(errnoOf { _ = try buffers.get(block: 32) }, .EIO)
    XCTAssertEqual(
      errnoOf { try buffers.read(block: 1).replace(at: 2047, with: [1, 2]) }, .EINVAL)
    XCTAssertEqual(cache.stats.bufferBytes, 2048, "only block 1 is cached")
  }

  func testForgetDropsADirtyBufferWithoutWritingIt() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    try buffers.read(block: 2).replace(at: 0, with: [9, 9])
    XCTAssertEqual(cache.stats.dirtyBytes, 1024)
    buffers.forget(block: 2)
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertEqual(buffers.cachedBufferCount, 0)
    try cache.syncAll()
    XCTAssertEqual(try deviceBytes(driver, at: 2048, count: 2), [0, 0])

    // invalidate() drops this device's clean, unheld buffers only.
    let other = try BufferCache(
      cache: cache, device: try makeDevice(name: "ram1").0, blockSize: 1024)
    try other.read(block: 1).release()
    try buffers.read(block: 3).release()
    try buffers.read(block: 4).replace(at: 0, with: [1])
    let held = try buffers.read(block: 5)
    XCTAssertEqual(buffers.invalidate(), 1)
    XCTAssertEqual(buffers.cachedBufferCount, 2, "the dirty and the held buffer stay")
    XCTAssertEqual(other.cachedBufferCount, 1, "another device's buffers stay")
    held.release()
  }

  // MARK: - Pages

  func testPagesReadThroughReadFolioAndWriteBackThroughWritepage() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let trace = TraceLog()
    cache.traceHook = { trace.append($0) }
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 12, operations: ops, device: device)
    let onDisk = pattern(1, count: 3 * 4096)
    try putDeviceBytes(driver, at: ops.deviceOffset(ino: 12, index: 0), onDisk)

    XCTAssertEqual(try readBytes(file, at: 100, count: 8000), Array(onDisk[100..<8100]))
    XCTAssertEqual(ops.reads, 2)
    XCTAssertEqual(cache.stats.misses, 2)
    XCTAssertEqual(file.cachedPageCount, 2)
    XCTAssertEqual(file.state(ofPage: 0), [.uptodate])
    XCTAssertEqual(try readBytes(file, at: 4096, count: 4096), Array(onDisk[4096..<8192]))
    XCTAssertEqual(cache.stats.hits, 1)
    XCTAssertEqual(ops.reads, 2, "a hit calls no readFolio")
    let first = 12 * 64 * 8  // the first sector of inode 12's page 0
    XCTAssertEqual(
      Array(trace.lines.prefix(2)),
      ["pagecache miss ino 12 page 0", "bio READ ram0 sectors \(first)..\(first + 7) (4096 bytes)"])

    // A partial write of page 2 reads it first; a whole-page write of 3 does not.
    try writeBytes(file, at: 2 * 4096 + 10, [7, 7, 7])
    XCTAssertEqual(ops.reads, 3)
    let whole = pattern(9, count: 4096)
    try writeBytes(file, at: 3 * 4096, whole)
    XCTAssertEqual(ops.reads, 3)
    XCTAssertEqual(file.dirtyPageCount, 2)
    XCTAssertEqual(file.state(ofPage: 2), [.uptodate, .dirty])
    XCTAssertEqual(cache.stats.dirtyBytes, 8192)
    XCTAssertTrue(cache.stats.meminfo.contains("Dirty:                 8 kB\n"))
    XCTAssertTrue(cache.stats.vmstat.contains("nr_dirty 2\n"))

    try file.sync()
    XCTAssertEqual(ops.writes, 2)
    XCTAssertEqual(file.dirtyPageCount, 0)
    var expected = Array(onDisk[8192..<12288])
    expected[10...12] = [7, 7, 7]
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 12, index: 2), count: 4096), expected)
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 12, index: 3), count: 4096), whole)
    XCTAssertEqual(cache.stats.pagesWritten, 2)
    XCTAssertEqual(cache.stats.bytesWritten, 8192)
    XCTAssertEqual(cache.stats.bytesRead, 3 * 4096)
    XCTAssertEqual(device.stats.flushesCompleted, 1, "fsync flushes the device")
  }

  /// Writeback hands a file system that takes runs its consecutive dirty
  /// pages in one writepages call, in file order, and their blocks go as
  /// one bio; a failed run leaves every page of it dirty, and sync says EIO.
  func testWritebackHandsConsecutivePagesAsOneRun() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let trace = TraceLog()
    cache.traceHook = { trace.append($0) }
    let ops = RunFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 5, operations: ops, device: device)
    for page: UInt64 in [7, 3, 1, 0, 2, 5] {
      try writeBytes(file, at: page * 4096, pattern(Int(page), count: 4096))
    }
    try file.sync()
    XCTAssertEqual(ops.calls, [[0, 4], [5, 1], [7, 1]])
    XCTAssertTrue(
      trace.lines.contains("bio WRITE ram0 sectors 0..31 (16384 bytes)"), "\(trace.lines)")
    for page: UInt64 in [0, 1, 2, 3, 5, 7] {
      XCTAssertEqual(
        try deviceBytes(driver, at: page * 4096, count: 4096), pattern(Int(page), count: 4096))
    }
    XCTAssertEqual(cache.stats.pagesWritten, 6)

    ops.failRuns = true
    try writeBytes(file, at: 0, pattern(40, count: 2 * 4096))
    XCTAssertThrowsError(try file.sync()) { XCTAssertEqual($0 as? Errno, .EIO) }
    XCTAssertEqual(file.dirtyPageCount, 2, "both pages of the failed run stay dirty")
    ops.failRuns = false
    try file.sync()
    XCTAssertEqual(file.dirtyPageCount, 0)
    XCTAssertEqual(try deviceBytes(driver, at: 0, count: 2 * 4096), pattern(40, count: 2 * 4096))
  }

  func testReadBlocksMergesRunsAndZeroesHoles() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let trace = TraceLog()
    cache.traceHook = { trace.append($0) }
    try putDeviceBytes(driver, at: 0, pattern(4, count: 16 * 1024))
    var page = [UInt8](repeating: 0xAA, count: 4096)
    try page.withUnsafeMutableBytes {
      try cache.readBlocks([4, 5, nil, 9], blockSize: 1024, from: device, into: $0)
    }
    let disk = pattern(4, count: 16 * 1024)
    XCTAssertEqual(Array(page[0..<2048]), Array(disk[4096..<6144]))
    XCTAssertEqual(Array(page[2048..<3072]), [UInt8](repeating: 0, count: 1024))
    XCTAssertEqual(Array(page[3072..<4096]), Array(disk[9216..<10240]))
    XCTAssertEqual(
      trace.lines,
      ["bio READ ram0 sectors 8..11 (2048 bytes)", "bio READ ram0 sectors 18..19 (1024 bytes)"])
    XCTAssertEqual(
      errnoOf {
        try page.withUnsafeMutableBytes {
          try cache.readBlocks([8192], blockSize: 1024, from: device, into: $0)
        }
      }, .EIO, "a block past the end of the 8 MiB device")
    XCTAssertEqual(
      errnoOf {
        try page.withUnsafeMutableBytes {
          try cache.readBlocks([1, 2, 3, 4, 5], blockSize: 1024, from: device, into: $0)
        }
      }, .EINVAL, "more blocks than the page holds")
  }

  func testMeminfoAndVmstatText() {
    var stats = PageCacheStats()
    stats.cachedBytes = 123_456 * 1024
    stats.bufferBytes = 2048
    stats.dirtyBytes = 4096 + 1024
    stats.bytesRead = 10 * 1024
    stats.bytesWritten = 4096
    stats.hits = 5
    stats.misses = 3
    XCTAssertEqual(
      stats.meminfo,
      "Buffers:               2 kB\nCached:           123456 kB\nDirty:                 5 kB\n"
        + "Writeback:             0 kB\n")
    XCTAssertEqual(
      stats.vmstat,
      "nr_dirty 2\nnr_writeback 0\npgpgin 10\npgpgout 4\npagecache_hits 5\npagecache_misses 3\n")
    XCTAssertEqual(
      PageCacheTraceEvent.bio(operation: .flush, device: "loop0", sector: 0, bytes: 0).line,
      "bio FLUSH loop0")
  }

  // MARK: - The bound

  func testEvictionUnderASmallBoundWritesDirtyDataBackBeforeDropping() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache(capacityBytes: 4 * 4096)
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 1, operations: ops)
    let data = (0..<16).map { pattern($0 + 100, count: 4096) }
    for (index, page) in data.enumerated() {
      try writeBytes(file, at: UInt64(index) * 4096, page)
      XCTAssertLessThanOrEqual(cache.stats.cachedBytes, 4 * 4096, "after page \(index)")
    }
    XCTAssertEqual(file.cachedPageCount, 4)
    XCTAssertEqual(cache.stats.evictions, 12)
    // Every page that left the cache is on the device.
    for index in 0..<16 where file.state(ofPage: UInt64(index)) == nil {
      XCTAssertEqual(
        try deviceBytes(driver, at: ops.deviceOffset(ino: 1, index: UInt64(index)), count: 4096),
        data[index], "page \(index) was dropped without being written")
    }
    for (index, page) in data.enumerated() {
      XCTAssertEqual(try readBytes(file, at: UInt64(index) * 4096, count: 4096), page)
    }
    try cache.syncAll()
    for (index, page) in data.enumerated() {
      XCTAssertEqual(
        try deviceBytes(driver, at: ops.deviceOffset(ino: 1, index: UInt64(index)), count: 4096),
        page)
    }

    // Lowering the bound shrinks the cache at once.
    cache.capacityBytes = 4096
    XCTAssertLessThanOrEqual(cache.stats.cachedBytes, 4096)
  }

  func testPinnedBuffersStayAndTheBoundIsKeptAfterRelease() throws {
    let (device, _) = try makeDevice()
    let cache = PageCache(capacityBytes: 2 * 1024)
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    let held = try (0..<4).map { try buffers.read(block: UInt64($0)) }
    XCTAssertEqual(buffers.cachedBufferCount, 4, "pinned buffers are never dropped")
    held.forEach { $0.release() }
    _ = try buffers.read(block: 10)
    XCTAssertLessThanOrEqual(cache.stats.bufferBytes, 2 * 1024)
    XCTAssertNotNil(buffers.state(ofBlock: 10))
  }

  func testDropCleanPagesKeepsDirtyPages() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 2, operations: ops)
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    _ = try readBytes(file, at: 0, count: 3 * 4096)
    try writeBytes(file, at: 5 * 4096, pattern(5, count: 4096))
    try writeBytes(file, at: 6 * 4096 + 1, [1])
    try buffers.read(block: 1000).release()
    XCTAssertEqual(file.cachedPageCount, 5)

    XCTAssertEqual(cache.dropCleanPages(), 3 * 4096 + 1024)
    XCTAssertEqual(file.cachedPageCount, 2)
    XCTAssertEqual(file.state(ofPage: 5), [.uptodate, .dirty])
    XCTAssertEqual(file.state(ofPage: 6), [.uptodate, .dirty])
    XCTAssertEqual(cache.stats.cachedBytes, 2 * 4096)
    XCTAssertEqual(cache.stats.bufferBytes, 0)
    try cache.syncAll()
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 2, index: 5), count: 4096),
      pattern(5, count: 4096))
    XCTAssertEqual(cache.dropCleanPages(), 2 * 4096)
    XCTAssertEqual(cache.stats.cachedBytes, 0)
  }

  // MARK: - Writeback

  func testFlusherWritesOnlyExpiredDirtyPages() throws {
    let (device, driver) = try makeDevice()
    let clock = ManualClock()
    let cache = PageCache(dirtyExpireInterval: 30, clock: { clock.now })
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 3, operations: ops)
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 4096)

    clock.now = 100
    try writeBytes(file, at: 0, pattern(1, count: 4096))
    clock.now = 120
    try writeBytes(file, at: 4096, pattern(2, count: 4096))
    try buffers.get(block: 200).modify { $0.copyBytes(from: pattern(3, count: 4096)) }
    clock.now = 125
    try writeBytes(file, at: 10, [5])  // page 0 again: still dirty since 100

    XCTAssertEqual(cache.runFlusherOnce(now: 129), 0)
    XCTAssertEqual(cache.runFlusherOnce(now: 130), 1)
    XCTAssertEqual(file.state(ofPage: 0), [.uptodate])
    XCTAssertEqual(file.state(ofPage: 1), [.uptodate, .dirty])
    var page0 = pattern(1, count: 4096)
    page0[10] = 5
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 3, index: 0), count: 4096), page0)
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 3, index: 1), count: 4096),
      [UInt8](repeating: 0, count: 4096))

    XCTAssertEqual(cache.runFlusherOnce(now: 150), 2, "page 1 and the buffer, dirty since 120")
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 3, index: 1), count: 4096),
      pattern(2, count: 4096))
    XCTAssertEqual(try deviceBytes(driver, at: 200 * 4096, count: 4096), pattern(3, count: 4096))
  }

  func testFlusherThreadWritesBackAndStops() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache(dirtyWritebackInterval: 0.01, dirtyExpireInterval: 0)
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 4, operations: ops)
    cache.startFlusher()
    XCTAssertTrue(cache.flusherIsRunning)
    try writeBytes(file, at: 0, pattern(8, count: 4096))
    // Wait for the condition, with a generous bound (not a timed assertion).
    let deadline = Date().addingTimeInterval(30)
    while file.dirtyPageCount > 0, Date() < deadline { usleep(1000) }
    XCTAssertEqual(file.dirtyPageCount, 0, "the flusher never wrote the page back")
    cache.stopFlusher()
    XCTAssertFalse(cache.flusherIsRunning)
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 4, index: 0), count: 4096),
      pattern(8, count: 4096))
    // Stopped: a new dirty page stays dirty.
    try writeBytes(file, at: 4096, [1])
    XCTAssertEqual(file.dirtyPageCount, 1)
  }

  func testFlusherThreadEndsWhenTheCacheGoesAway() throws {
    weak var gone: PageCache?
    do {
      let cache = PageCache(dirtyWritebackInterval: 0.01)
      cache.startFlusher()
      gone = cache
    }
    let deadline = Date().addingTimeInterval(30)
    while gone != nil, Date() < deadline { usleep(1000) }
    XCTAssertNil(gone, "the flusher thread keeps its cache alive")
  }

  func testConcurrentMissesOfOnePageReadItOnce() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 10, operations: ops)
    let data = pattern(10, count: 4096)
    try putDeviceBytes(driver, at: ops.deviceOffset(ino: 10, index: 0), data)
    final class Outcome: @unchecked Sendable {
      let lock = Lock()
      var ok = [Bool](repeating: false, count: 8)
    }
    let outcome = Outcome()
    DispatchQueue.concurrentPerform(iterations: 8) { i in
      let same = (try? readBytes(file, at: 0, count: 4096)) == data
      outcome.lock.withLock { outcome.ok[i] = same }
    }
    XCTAssertEqual(outcome.lock.withLock { outcome.ok }, [Bool](repeating: true, count: 8))
    XCTAssertEqual(ops.reads, 1, "readers of a page being read wait for it (PG_locked)")
    XCTAssertEqual(cache.stats.misses, 1)
    XCTAssertEqual(cache.stats.hits, 7)
  }

  func testWritebackBiosAppearInTheTrace() throws {
    let (device, _) = try makeDevice()
    let cache = PageCache()
    let trace = TraceLog()
    let ops = TestFileOps(cache: cache, device: device, blockSize: 1024)
    let file = AddressSpace(cache: cache, ino: 1, operations: ops, device: device)
    try writeBytes(file, at: 0, pattern(1, count: 4096))
    cache.traceHook = { trace.append($0) }
    try file.sync()
    let first = 64 * 8  // inode 1's page 0
    XCTAssertEqual(
      trace.lines, ["bio WRITE ram0 sectors \(first)..\(first + 7) (4096 bytes)", "bio FLUSH ram0"])
    cache.traceHook = nil
    try writeBytes(file, at: 4096, [1])
    XCTAssertEqual(trace.lines.count, 2, "no hook, no lines")
  }

  func testShutdownWritesEverythingBackAndLetsTheCacheGo() throws {
    let (device, driver) = try makeDevice()
    weak var gone: PageCache?
    do {
      let cache = PageCache(dirtyWritebackInterval: 3600)
      cache.startFlusher()
      let ops = TestFileOps(cache: cache, device: device)
      let file = AddressSpace(cache: cache, ino: 11, operations: ops)
      let buffers = try BufferCache(cache: cache, device: device, blockSize: 2048)
      try writeBytes(file, at: 0, pattern(11, count: 5000))
      try buffers.read(block: 100).replace(at: 0, with: [4, 4])
      try cache.shutdown()
      XCTAssertFalse(cache.flusherIsRunning)
      XCTAssertEqual(cache.stats.cachedBytes + cache.stats.bufferBytes + cache.stats.dirtyBytes, 0)
      XCTAssertEqual(file.cachedPageCount, 0)
      XCTAssertEqual(
        try deviceBytes(driver, at: ops.deviceOffset(ino: 11, index: 0), count: 5000),
        pattern(11, count: 5000))
      XCTAssertEqual(try deviceBytes(driver, at: 100 * 2048, count: 2), [4, 4])
      gone = cache
    }
    XCTAssertNil(gone, "nothing keeps a shut-down cache alive")
  }

  func testTruncateDropsPagesPastTheSizeAndZeroesTheTail() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 5, operations: ops)
    for index in 0..<4 {
      try writeBytes(file, at: UInt64(index) * 4096, pattern(index, count: 4096))
    }
    XCTAssertEqual(cache.stats.dirtyBytes, 4 * 4096)

    file.truncate(from: 4096 + 100)
    XCTAssertEqual(file.cachedPageCount, 2)
    XCTAssertNil(file.state(ofPage: 2))
    XCTAssertNil(file.state(ofPage: 3))
    XCTAssertEqual(cache.stats.dirtyBytes, 2 * 4096)
    XCTAssertEqual(cache.stats.cachedBytes, 2 * 4096)
    var page1 = pattern(1, count: 4096)
    for i in 100..<4096 { page1[i] = 0 }
    XCTAssertEqual(try readBytes(file, at: 4096, count: 4096), page1)
    try file.sync()
    XCTAssertEqual(ops.writes, 2, "the dropped pages are never written")
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 5, index: 2), count: 4096),
      [UInt8](repeating: 0, count: 4096))

    file.truncate(from: 0)
    XCTAssertEqual(file.cachedPageCount, 0)
    XCTAssertEqual(cache.stats.cachedBytes, 0)
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
  }

  // MARK: - Errors

  func testReadErrorIsEIOAndCachesNothing() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache()
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 6, operations: ops)
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    try putDeviceBytes(driver, at: 1024, [42])
    driver.failReads = true
    XCTAssertEqual(errnoOf { _ = try buffers.read(block: 1) }, .EIO)
    XCTAssertEqual(errnoOf { _ = try readBytes(file, at: 0, count: 10) }, .EIO)
    XCTAssertEqual(
      errnoOf { try writeBytes(file, at: 5, [1]) }, .EIO, "a partial write reads first")
    XCTAssertEqual(buffers.cachedBufferCount, 0)
    XCTAssertEqual(file.cachedPageCount, 0)
    XCTAssertEqual(cache.stats.cachedBytes + cache.stats.bufferBytes + cache.stats.dirtyBytes, 0)

    driver.failReads = false
    XCTAssertEqual(try buffers.read(block: 1).bytes.first, 42)
    XCTAssertEqual(try readBytes(file, at: 0, count: 10), [UInt8](repeating: 0, count: 10))
  }

  func testWritebackErrorKeepsThePageDirtyAndSyncReportsItOnce() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache(dirtyExpireInterval: 0)
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 7, operations: ops)
    let other = AddressSpace(cache: cache, ino: 8, operations: ops)
    let data = pattern(7, count: 4096)
    try writeBytes(file, at: 0, data)

    driver.failWrites = true
    XCTAssertEqual(cache.runFlusherOnce(now: cache.clock() + 1), 0)
    XCTAssertEqual(ops.writes, 1, "the flusher tried")
    XCTAssertEqual(file.state(ofPage: 0), [.uptodate, .dirty], "a failed writeback loses nothing")
    XCTAssertEqual(cache.stats.writebackBytes, 0)
    XCTAssertEqual(cache.dropCleanPages(), 0)

    driver.failWrites = false
    XCTAssertEqual(errnoOf { try file.sync() }, .EIO, "the earlier failure is reported")
    XCTAssertEqual(file.state(ofPage: 0), [.uptodate], "and the healed device took the data")
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 7, index: 0), count: 4096), data)
    XCTAssertNil(errnoOf { try file.sync() }, "reported once")
    XCTAssertNil(errnoOf { try other.sync() }, "another file never saw an error")
    XCTAssertEqual(errnoOf { try cache.syncAll() }, .EIO, "syncfs sees it once too")
    XCTAssertNil(errnoOf { try cache.syncAll() })

    // A sync that fails itself, then a retry on the healed device.
    try writeBytes(file, at: 4096, data)
    driver.failWrites = true
    XCTAssertEqual(errnoOf { try file.sync() }, .EIO)
    XCTAssertEqual(file.dirtyPageCount, 1)
    driver.failWrites = false
    XCTAssertNil(errnoOf { try file.sync() })
    XCTAssertEqual(file.dirtyPageCount, 0)
    XCTAssertEqual(
      try deviceBytes(driver, at: ops.deviceOffset(ino: 7, index: 1), count: 4096), data)

    // A buffer: sync_dirty_buffer fails, the buffer stays dirty, a retry works.
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    let bh = try buffers.read(block: 900)
    try bh.replace(at: 0, with: [3])
    driver.failWrites = true
    XCTAssertEqual(errnoOf { try bh.sync() }, .EIO)
    XCTAssertTrue(bh.isDirty)
    driver.failWrites = false
    try bh.sync()
    XCTAssertFalse(bh.isDirty)
    XCTAssertEqual(try deviceBytes(driver, at: 900 * 1024, count: 1), [3])
  }

  func testAFailingDeviceCannotMakeTheBoundDropDirtyData() throws {
    let (device, driver) = try makeDevice()
    let cache = PageCache(capacityBytes: 2 * 4096)
    let ops = TestFileOps(cache: cache, device: device)
    let file = AddressSpace(cache: cache, ino: 9, operations: ops)
    driver.failWrites = true
    for index in 0..<6 {
      try writeBytes(file, at: UInt64(index) * 4096, pattern(index, count: 4096))
    }
    XCTAssertEqual(file.dirtyPageCount, 6, "over the bound, but nothing dirty is dropped")
    driver.failWrites = false
    XCTAssertEqual(errnoOf { try file.sync() }, .EIO, "the failed writebacks are reported")
    for index in 0..<6 {
      XCTAssertEqual(
        try deviceBytes(driver, at: ops.deviceOffset(ino: 9, index: UInt64(index)), count: 4096),
        pattern(index, count: 4096))
    }
    try writeBytes(file, at: 0, [1])
    XCTAssertLessThanOrEqual(cache.stats.cachedBytes, 2 * 4096, "back under the bound")
  }

  // MARK: - Models

  /// Thousands of random operations on three files and a buffer cache under a
  /// bound of a few pages, checked against byte arrays; at the end the device
  /// holds what the models say.
  func testSeededRandomOperationsMatchAByteArrayModel() throws {
    let (device, driver) = try makeDevice(bytes: 2 << 20)
    let clock = ManualClock()
    let cache = PageCache(capacityBytes: 6 * 4096, dirtyExpireInterval: 5, clock: { clock.now })
    let ops = TestFileOps(cache: cache, device: device, blockSize: 1024, pagesPerFile: 16)
    let fileBytes = 16 * 4096
    let files = (0..<3).map {
      AddressSpace(cache: cache, ino: UInt64($0), operations: ops, device: device)
    }
    var models = [[UInt8]](repeating: [UInt8](repeating: 0, count: fileBytes), count: 3)
    for ino in 0..<3 { ops.setSize(UInt64(fileBytes), ino: UInt64(ino)) }
    for page in [3, 7] { ops.makeHole(page: UInt64(page)) }  // file 0 reads zeros there
    // Buffers: device blocks 1024..<1152 (1 KiB), far from the files' pages.
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    let firstBlock: UInt64 = 1024
    var blockModel = [UInt8](repeating: 0, count: 128 * 1024)
    var random = SeededGenerator(state: 0x5EED_CAC4E)

    for step in 0..<4000 {
      clock.now += Double(random.next(upperBound: UInt64(3)))
      let f = Int(random.next(upperBound: UInt64(3)))
      switch random.next(upperBound: UInt64(100)) {
      case 0..<35:
        let count = Int(random.next(upperBound: UInt64(9000))) + 1
        let offset = Int(random.next(upperBound: UInt64(fileBytes - count + 1)))
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try writeBytes(files[f], at: UInt64(offset), bytes)
        models[f].replaceSubrange(offset..<offset + count, with: bytes)
      case 35..<65:
        let count = Int(random.next(upperBound: UInt64(9000))) + 1
        let offset = Int(random.next(upperBound: UInt64(fileBytes - count + 1)))
        let got = try readBytes(files[f], at: UInt64(offset), count: count)
        guard got == Array(models[f][offset..<offset + count]) else {
          return XCTFail("step \(step): file \(f) bytes \(offset)..<\(offset + count) differ")
        }
      case 65..<78:
        let block = UInt64(random.next(upperBound: UInt64(128)))
        let bh = try buffers.read(block: firstBlock + block)
        let start = Int(block) * 1024
        guard bh.bytes == Array(blockModel[start..<start + 1024]) else {
          return XCTFail("step \(step): block \(block) differs")
        }
        if random.next(upperBound: UInt64(2)) == 0 {
          let at = Int(random.next(upperBound: UInt64(1000)))
          let bytes = (0..<24).map { _ in UInt8(truncatingIfNeeded: random.next()) }
          try bh.replace(at: at, with: bytes)
          blockModel.replaceSubrange(start + at..<start + at + 24, with: bytes)
          if random.next(upperBound: UInt64(4)) == 0 { try bh.sync() }
        }
        bh.release()
      case 78..<84:
        try files[f].sync()
      case 84..<87:
        try cache.syncAll()
      case 87..<91:
        cache.dropCleanPages()
      case 91..<96:
        cache.runFlusherOnce(now: clock.now)
      default:
        // Truncate to a random size and grow back, as a file system would.
        let size = Int(random.next(upperBound: UInt64(fileBytes)))
        ops.setSize(UInt64(size), ino: UInt64(f))
        files[f].truncate(from: UInt64(size))
        for i in size..<fileBytes { models[f][i] = 0 }
        ops.setSize(UInt64(fileBytes), ino: UInt64(f))
        // The blocks past the size were "freed": write zeros, as a fresh
        // allocation would give, so that re-reads match the model.
        let zeros = [UInt8](repeating: 0, count: fileBytes - size)
        try writeBytes(files[f], at: UInt64(size), zeros)
      }
      let stats = cache.stats
      guard stats.cachedBytes + stats.bufferBytes <= stats.capacityBytes else {
        return XCTFail(
          "step \(step): \(stats.cachedBytes + stats.bufferBytes) bytes over the bound")
      }
      guard stats.writebackBytes == 0, stats.dirtyBytes <= stats.cachedBytes + stats.bufferBytes
      else {
        return XCTFail("step \(step): dirty \(stats.dirtyBytes), writeback \(stats.writebackBytes)")
      }
    }

    try cache.syncAll()
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    for f in 0..<3 {
      for index in 0..<16 {
        let onDisk = try deviceBytes(
          driver, at: ops.deviceOffset(ino: UInt64(f), index: UInt64(index)), count: 4096)
        XCTAssertEqual(
          onDisk, Array(models[f][index * 4096..<(index + 1) * 4096]), "file \(f) page \(index)")
      }
    }
    XCTAssertEqual(
      try deviceBytes(driver, at: firstBlock * 1024, count: blockModel.count), blockModel)
    XCTAssertGreaterThan(cache.stats.evictions, 100, "the bound was exercised")
    XCTAssertGreaterThan(cache.stats.hits, 100)
    XCTAssertGreaterThan(cache.stats.misses, 100)
  }

  /// Threads read, write, sync and drop at once, each in its own bytes of a
  /// shared file (interleaved 512-byte slots, so they share pages), its own
  /// file and its own blocks, beside a running flusher; then everything is
  /// checked against the per-thread models, through the cache and on disk.
  func testConcurrentThreadsAgainstDisjointModels() throws {
    let (device, driver) = try makeDevice(bytes: 2 << 20)
    let cache = PageCache(
      capacityBytes: 8 * 4096, dirtyWritebackInterval: 0.001, dirtyExpireInterval: 0)
    let ops = TestFileOps(cache: cache, device: device, blockSize: 1024, pagesPerFile: 16)
    let threads = 4
    let slot = 512
    let fileBytes = 16 * 4096
    let shared = AddressSpace(cache: cache, ino: 0, operations: ops)
    let own = (0..<threads).map { AddressSpace(cache: cache, ino: UInt64($0 + 1), operations: ops) }
    let buffers = try BufferCache(cache: cache, device: device, blockSize: 1024)
    let firstBlock: UInt64 = 1536  // past the five files' pages
    cache.startFlusher()
    defer { cache.stopFlusher() }

    final class Result: @unchecked Sendable {
      var shared: [UInt8] = []
      var own: [UInt8] = []
      var blocks: [UInt8] = []
      var failure: String?
    }
    let results = (0..<threads).map { _ in Result() }
    let group = DispatchGroup()
    for t in 0..<threads {
      group.enter()
      let thread = Thread {
        defer { group.leave() }
        let result = results[t]
        var random = SeededGenerator(state: UInt64(t) &* 7919 &+ 1)
        var sharedModel = [UInt8](repeating: 0, count: fileBytes)
        var ownModel = [UInt8](repeating: 0, count: fileBytes)
        var blockModel = [UInt8](repeating: 0, count: 8 * 1024)
        let mySlots = (0..<(fileBytes / slot)).filter { $0 % threads == t }
        do {
          for step in 0..<1500 {
            switch random.next(upperBound: UInt64(10)) {
            case 0, 1:
              let s = mySlots[Int(random.next(upperBound: UInt64(mySlots.count)))]
              let count = Int(random.next(upperBound: UInt64(slot))) + 1
              let at = s * slot + Int(random.next(upperBound: UInt64(slot - count + 1)))
              let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
              try writeBytes(shared, at: UInt64(at), bytes)
              sharedModel.replaceSubrange(at..<at + count, with: bytes)
            case 2:
              let s = mySlots[Int(random.next(upperBound: UInt64(mySlots.count)))]
              guard
                try readBytes(shared, at: UInt64(s * slot), count: slot)
                  == Array(sharedModel[s * slot..<(s + 1) * slot])
              else {
                result.failure = "thread \(t) step \(step): shared slot \(s) differs"
                return
              }
            case 3, 4:
              let count = Int(random.next(upperBound: UInt64(6000))) + 1
              let at = Int(random.next(upperBound: UInt64(fileBytes - count + 1)))
              let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
              try writeBytes(own[t], at: UInt64(at), bytes)
              ownModel.replaceSubrange(at..<at + count, with: bytes)
            case 5:
              let count = Int(random.next(upperBound: UInt64(6000))) + 1
              let at = Int(random.next(upperBound: UInt64(fileBytes - count + 1)))
              guard
                try readBytes(own[t], at: UInt64(at), count: count)
                  == Array(ownModel[at..<at + count])
              else {
                result.failure = "thread \(t) step \(step): own file differs"
                return
              }
            case 6:
              let block = Int(random.next(upperBound: UInt64(8)))
              let bh = try buffers.read(block: firstBlock + UInt64(t * 8 + block))
              guard bh.bytes == Array(blockModel[block * 1024..<(block + 1) * 1024]) else {
                result.failure = "thread \(t) step \(step): block differs"
                return
              }
              let at = Int(random.next(upperBound: UInt64(1016)))
              let bytes = (0..<8).map { _ in UInt8(truncatingIfNeeded: random.next()) }
              try bh.replace(at: at, with: bytes)
              blockModel.replaceSubrange(block * 1024 + at..<block * 1024 + at + 8, with: bytes)
              bh.release()
            case 7:
              try own[t].sync()
            case 8:
              cache.dropCleanPages()
            default:
              if random.next(upperBound: UInt64(4)) == 0 {
                try shared.sync()
              } else {
                cache.runFlusherOnce(now: cache.clock())
              }
            }
          }
        } catch {
          result.failure = "thread \(t): \(error)"
        }
        result.shared = sharedModel
        result.own = ownModel
        result.blocks = blockModel
      }
      thread.start()
    }
    XCTAssertEqual(group.wait(timeout: .now() + 600), .success, "the threads did not finish")
    for result in results { XCTAssertNil(result.failure) }
    guard results.allSatisfy({ $0.failure == nil }) else { return }

    cache.stopFlusher()
    try cache.syncAll()
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertLessThanOrEqual(cache.stats.cachedBytes + cache.stats.bufferBytes, 8 * 4096)
    var sharedOnDisk = [UInt8](repeating: 0, count: fileBytes)
    try sharedOnDisk.withUnsafeMutableBytes {
      try driver.disk.read(at: ops.deviceOffset(ino: 0, index: 0), into: $0)
    }
    let sharedThroughCache = try readBytes(shared, at: 0, count: fileBytes)
    for t in 0..<threads {
      for s in stride(from: t, to: fileBytes / slot, by: threads) {
        let range = s * slot..<(s + 1) * slot
        XCTAssertEqual(
          Array(sharedOnDisk[range]), Array(results[t].shared[range]), "slot \(s) on disk")
        XCTAssertEqual(
          Array(sharedThroughCache[range]), Array(results[t].shared[range]), "slot \(s)")
      }
      XCTAssertEqual(
        try deviceBytes(
          driver, at: ops.deviceOffset(ino: UInt64(t + 1), index: 0), count: fileBytes),
        results[t].own, "thread \(t)'s file on disk")
      XCTAssertEqual(try readBytes(own[t], at: 0, count: fileBytes), results[t].own)
      XCTAssertEqual(
        try deviceBytes(driver, at: (firstBlock + UInt64(t * 8)) * 1024, count: 8 * 1024),
        results[t].blocks, "thread \(t)'s blocks on disk")
    }
  }
}
