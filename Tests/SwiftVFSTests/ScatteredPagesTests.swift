// Scattered bios and page runs moved where the pages lie (Bio segments,
// BlockDriver's segment forms, ImageFile's preadv/pwritev, PageCache's
// readBlocks(intoPages:)/writeBlocks(fromPages:), AddressSpaceOperations'
// takesScatteredPages) and whole pages written a run at a time: a scattered
// bio moves the same bytes as one buffer and counts as one bio, its
// segments are checked like a buffer, a readahead run is read straight into
// its pages with one bio per run of blocks, a writeback run is written
// straight from its pages, and the counters, traces and dirty state stay
// those of the page-by-page path; the page pool hands a page out again
// with the lock it was freed with; the page table finds, replaces and
// removes pages across its chunks.

import Foundation
import XCTest

@testable import SwiftVFSBlock
@testable import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A RAM disk that counts the transfers that reached it and can fail writes.
private final class CountingDriver: BlockDriver, @unchecked Sendable {
  let disk: RamDisk
  private let lock = Lock()
  private var _reads = 0
  private var _writes = 0
  private var _failWrites = false

  init(sizeInBytes: UInt64) { disk = RamDisk(sizeInBytes: sizeInBytes) }

  var sizeInBytes: UInt64 { disk.sizeInBytes }
  var reads: Int { lock.withLock { _reads } }
  var writes: Int { lock.withLock { _writes } }
  var failWrites: Bool {
    get { lock.withLock { _failWrites } }
    set { lock.withLock { _failWrites = newValue } }
  }

  func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    lock.withLock { _reads += 1 }
    try disk.read(at: offset, into: buffer)
  }
  func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    let fail = lock.withLock { () -> Bool in
      _writes += 1
      return _failWrites
    }
    if fail { throw .EIO }
    try disk.write(at: offset, from: buffer)
  }
  func flush() throws(Errno) {}
}

/// Page operations over 4 KiB blocks, page `i` at block `i`, that take
/// scattered pages and runs, and record the runs they were handed.
private final class ScatteredOps: AddressSpaceOperations, @unchecked Sendable {
  let cache: PageCache
  let device: BlockDevice
  private let lock = Lock()
  private var _readRuns: [[UInt64]] = []
  private var _writeRuns: [[UInt64]] = []

  init(cache: PageCache, device: BlockDevice) {
    self.cache = cache
    self.device = device
  }

  var readRuns: [[UInt64]] { lock.withLock { _readRuns } }
  var writeRuns: [[UInt64]] { lock.withLock { _writeRuns } }
  var readsPageRuns: Bool { true }
  var writesPageRuns: Bool { true }
  var takesScatteredPages: Bool { true }

  private func blocks(_ index: UInt64, _ count: Int) -> [UInt64?] {
    (0..<UInt64(count)).map { index + $0 }
  }

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try cache.readBlocks(blocks(index, 1), blockSize: 4096, from: device, into: page)
  }

  func readFolios(
    _ mapping: AddressSpace, index: UInt64, intoPages pages: [UnsafeMutableRawBufferPointer]
  ) throws(Errno) {
    lock.withLock { _readRuns.append(Array(index..<index + UInt64(pages.count))) }
    try cache.readBlocks(
      blocks(index, pages.count), blockSize: 4096, from: device, intoPages: pages)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    XCTFail("a file system that takes scattered pages gets writepages(fromPages:)")
    try cache.writeBlocks(blocks(index, 1), blockSize: 4096, to: device, from: page)
  }

  func writepages(
    _ mapping: AddressSpace, index: UInt64, fromPages pages: [UnsafeRawBufferPointer]
  ) throws(Errno) {
    lock.withLock { _writeRuns.append(Array(index..<index + UInt64(pages.count))) }
    try cache.writeBlocks(blocks(index, pages.count), blockSize: 4096, to: device, fromPages: pages)
  }
}

/// Page operations that keep every default: one buffer for a run.
private struct OneBufferOps: AddressSpaceOperations {
  let cache: PageCache
  let device: BlockDevice

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try cache.readBlocks([index], blockSize: 4096, from: device, into: page)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    try cache.writeBlocks([index], blockSize: 4096, to: device, from: page)
  }
}

private final class Lines: @unchecked Sendable {
  private let lock = Lock()
  private var _lines: [String] = []
  func append(_ event: PageCacheTraceEvent) { lock.withLock { _lines.append(event.line) } }
  var lines: [String] { lock.withLock { _lines } }
}

/// Bytes that differ from one seed to another and within one.
private func pattern(_ seed: Int, count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ seed &* 11 &+ ($0 >> 9) &+ 3) }
}

/// `count` page-aligned buffers of `size` bytes, each filled with `fill`.
private func makeBuffers(_ count: Int, size: Int = 4096, fill: UInt8 = 0xAA)
  -> [UnsafeMutableRawBufferPointer]
{
  (0..<count).map { _ in
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
    buffer.initializeMemory(as: UInt8.self, repeating: fill)
    return buffer
  }
}

private func free(_ buffers: [UnsafeMutableRawBufferPointer]) {
  for buffer in buffers { buffer.deallocate() }
}

final class ScatteredPagesTests: XCTestCase {
  private var scratch: ScratchDirectory!

  override func setUpWithError() throws { scratch = try ScratchDirectory("scattered") }
  override func tearDownWithError() throws { try scratch?.remove() }

  private func makeRamDevice(blocks: UInt64 = 1024) throws -> (BlockDevice, CountingDriver) {
    let driver = CountingDriver(sizeInBytes: blocks * 4096)
    for block in 0..<blocks {
      try pattern(Int(block), count: 4096).withUnsafeBytes {
        try driver.disk.write(at: block * 4096, from: $0)
      }
    }
    let device = try BlockDevice(name: "ram0", dev: DevT(major: 1, minor: 0), driver: driver)
    return (device, driver)
  }

  private func deviceBytes(_ driver: CountingDriver, at offset: UInt64, count: Int) throws
    -> [UInt8]
  {
    var bytes = [UInt8](repeating: 0, count: count)
    try bytes.withUnsafeMutableBytes { try driver.disk.read(at: offset, into: $0) }
    return bytes
  }

  // MARK: - Bios

  func testScatteredBioOnAnImageMovesTheSegmentsInOrderAsOneBio() throws {
    let path = try scratch.makeImage(bytes: 64 << 10)
    let device = try BlockDevice(
      name: "loop0", dev: DevT(major: 7, minor: 0), driver: ImageFile(path: path))
    let parts = [pattern(1, count: 4096), pattern(2, count: 1024), pattern(3, count: 2048)]
    let segments = makeBuffers(3, size: 4096)
    defer { free(segments) }
    var pieces: [UnsafeRawBufferPointer] = []
    for (i, part) in parts.enumerated() {
      let piece = UnsafeMutableRawBufferPointer(rebasing: segments[i][0..<part.count])
      part.withUnsafeBytes { piece.copyMemory(from: $0) }
      pieces.append(UnsafeRawBufferPointer(piece))
    }
    XCTAssertEqual(try device.submitBio(.write(sector: 8, fromSegments: pieces)), 7168)
    XCTAssertEqual(device.stats.writesCompleted, 1)
    XCTAssertEqual(device.stats.sectorsWritten, 14)

    var whole = [UInt8](repeating: 0, count: 7168)
    try whole.withUnsafeMutableBytes { _ = try device.read(sector: 8, into: $0) }
    XCTAssertEqual(whole, parts.flatMap { $0 })

    // Read back scattered, cut elsewhere: 512 + 4096 + 2560 bytes.
    let into = makeBuffers(3, size: 4096, fill: 0)
    defer { free(into) }
    let sizes = [512, 4096, 2560]
    let readPieces = (0..<3).map {
      UnsafeMutableRawBufferPointer(rebasing: into[$0][0..<sizes[$0]])
    }
    XCTAssertEqual(try device.submitBio(.read(sector: 8, intoSegments: readPieces)), 7168)
    XCTAssertEqual(readPieces.flatMap { Array($0) }, whole)
    XCTAssertEqual(device.stats.readsCompleted, 2)
    XCTAssertEqual(device.stats.sectorsRead, 28)
    XCTAssertEqual(
      Array(into[0][512..<4096]), [UInt8](repeating: 0, count: 3584), "no byte past a segment")
  }

  func testScatteredBioOnADriverWithoutSegmentsGoesSegmentBySegment() throws {
    let (device, driver) = try makeRamDevice(blocks: 16)
    let into = makeBuffers(3)
    defer { free(into) }
    let readPieces = [
      into[0], UnsafeMutableRawBufferPointer(rebasing: into[1][0..<512]), into[2],
    ]
    try device.submitBio(.read(sector: 8, intoSegments: readPieces))
    XCTAssertEqual(driver.reads, 3, "RamDisk keeps the protocol's one-call-per-segment default")
    XCTAssertEqual(device.stats.readsCompleted, 1)
    XCTAssertEqual(
      readPieces.flatMap { Array($0) }, try deviceBytes(driver, at: 4096, count: 8704))
  }

  func testScatteredBioSegmentsAreCheckedLikeABuffer() throws {
    let (device, driver) = try makeRamDevice(blocks: 4)
    let pages = makeBuffers(2)
    defer { free(pages) }
    let empty = UnsafeMutableRawBufferPointer(rebasing: pages[0][0..<0])
    let odd = UnsafeMutableRawBufferPointer(rebasing: pages[1][0..<700])
    XCTAssertEqual(
      errnoOf { try device.submitBio(.read(sector: 0, intoSegments: [pages[0], empty])) }, .EINVAL)
    XCTAssertEqual(
      errnoOf { try device.submitBio(.read(sector: 0, intoSegments: [odd, odd])) }, .EINVAL)
    XCTAssertEqual(errnoOf { try device.submitBio(.read(sector: 0, intoSegments: [])) }, .EINVAL)
    XCTAssertEqual(
      errnoOf { try device.submitBio(Bio(operation: .flush, sector: 0, segments: [pages[0]])) },
      .EINVAL)
    // Sectors 24..39: past the 32-sector device.
    XCTAssertEqual(errnoOf { try device.submitBio(.read(sector: 24, intoSegments: pages)) }, .EIO)
    device.readOnly = true
    XCTAssertEqual(
      errnoOf {
        try device.submitBio(
          .write(sector: 0, fromSegments: pages.map { UnsafeRawBufferPointer($0) }))
      }, .EPERM)
    XCTAssertEqual(driver.reads + driver.writes, 0, "a refused bio never reaches the driver")
    XCTAssertEqual(device.stats.readsCompleted + device.stats.writesCompleted, 0)
  }

  // MARK: - readBlocks / writeBlocks over pages

  func testReadBlocksIntoPagesFillsWhatOneBufferGetsWithTheSameBios() throws {
    let (device, driver) = try makeRamDevice(blocks: 64)
    // 1 KiB blocks: a run 10-15 across pages 0 and 1, holes, a run 40-41,
    // block 7 alone; the last part of page 2 has no block (zeros).
    let blocks: [UInt64?] = [10, 11, 12, 13, 14, 15, nil, nil, 40, 41, 7]
    let cache = PageCache()
    let lines = Lines()
    cache.traceHook = { lines.append($0) }

    var whole = [UInt8](repeating: 0xAA, count: 3 * 4096)
    try whole.withUnsafeMutableBytes {
      try cache.readBlocks(blocks, blockSize: 1024, from: device, into: $0)
    }
    let oneBufferLines = lines.lines
    XCTAssertEqual(driver.reads, 3)

    let pages = makeBuffers(3)
    defer { free(pages) }
    try cache.readBlocks(blocks, blockSize: 1024, from: device, intoPages: pages)
    XCTAssertEqual(pages.flatMap { Array($0) }, whole)
    XCTAssertEqual(Array(lines.lines.dropFirst(oneBufferLines.count)), oneBufferLines)
    XCTAssertEqual(
      device.stats.readsCompleted, 6, "one bio per run of blocks, whatever pages it spans")
    XCTAssertEqual(
      Array(pages[1][2048..<4096]), [UInt8](repeating: 0, count: 2048), "a hole reads as zeros")
    XCTAssertEqual(Array(pages[2][3072..<4096]), [UInt8](repeating: 0, count: 1024))
    XCTAssertEqual(
      Array(pages[0][0..<1024]), try deviceBytes(driver, at: 10 * 1024, count: 1024))

    // A page that is not a page, too many blocks, a block past the end.
    let short = UnsafeMutableRawBufferPointer(rebasing: pages[0][0..<2048])
    XCTAssertEqual(
      errnoOf { try cache.readBlocks([1], blockSize: 1024, from: device, intoPages: [short]) },
      .EINVAL)
    XCTAssertEqual(
      errnoOf {
        try cache.readBlocks(
          Array(repeating: 1, count: 5), blockSize: 1024, from: device, intoPages: [pages[0]])
      }, .EINVAL)
    XCTAssertEqual(
      errnoOf { try cache.readBlocks([1 << 20], blockSize: 1024, from: device, intoPages: pages) },
      .EIO)
  }

  func testWriteBlocksFromPagesWritesWhatOneBufferWrites() throws {
    let (deviceA, driverA) = try makeRamDevice(blocks: 64)
    let (deviceB, driverB) = try makeRamDevice(blocks: 64)
    let blocks: [UInt64?] = [20, 21, 22, 23, 24, 25, nil, 3, 50, 51, 52, 53]
    let pages = makeBuffers(3)
    defer { free(pages) }
    for (i, page) in pages.enumerated() {
      pattern(100 + i, count: 4096).withUnsafeBytes { page.copyMemory(from: $0) }
    }
    let whole = pages.flatMap { Array($0) }
    let cache = PageCache()
    try whole.withUnsafeBytes {
      try cache.writeBlocks(blocks, blockSize: 1024, to: deviceA, from: $0)
    }
    try cache.writeBlocks(
      blocks, blockSize: 1024, to: deviceB, fromPages: pages.map { UnsafeRawBufferPointer($0) })
    XCTAssertEqual(
      try deviceBytes(driverB, at: 0, count: 64 * 4096),
      try deviceBytes(driverA, at: 0, count: 64 * 4096))
    XCTAssertEqual(deviceB.stats.writesCompleted, deviceA.stats.writesCompleted)
    XCTAssertEqual(deviceB.stats.writesCompleted, 3)
    XCTAssertEqual(try deviceBytes(driverB, at: 20 * 1024, count: 6 * 1024), Array(whole[0..<6144]))
  }

  // MARK: - An address space whose file system takes scattered pages

  func testColdRunIsReadIntoItsPagesWithOneBio() throws {
    let (device, driver) = try makeRamDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    let ops = ScatteredOps(cache: cache, device: device)
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    var out = [UInt8](repeating: 0, count: 64 * 4096)
    try out.withUnsafeMutableBytes { try mapping.read(at: 0, into: $0) }
    XCTAssertEqual(out, try deviceBytes(driver, at: 0, count: 64 * 4096))
    XCTAssertEqual(ops.readRuns, [Array(0..<64)])
    XCTAssertEqual(device.stats.readsCompleted, 1, "one bio of 64 segments")
    XCTAssertEqual(device.stats.sectorsRead, 64 * 8)
    XCTAssertEqual(cache.stats.misses, 64)
    XCTAssertEqual(cache.stats.pagesRead, 64)
    XCTAssertEqual(mapping.cachedPageCount, 64)
    XCTAssertEqual(mapping.state(ofPage: 63), [.uptodate])
  }

  func testWholePagesWrittenAsARunAreDirtyAndWrittenBackFromThePages() throws {
    let (device, driver) = try makeRamDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    let ops = ScatteredOps(cache: cache, device: device)
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    // Pages 102 and 105 cached before; the write starts 100 bytes into page
    // 99 (read first) and covers 100-139 whole.
    var two = [UInt8](repeating: 0, count: 4096)
    try two.withUnsafeMutableBytes { try mapping.read(at: 102 * 4096, into: $0) }
    try two.withUnsafeMutableBytes { try mapping.read(at: 105 * 4096, into: $0) }
    let before = cache.stats
    let data = pattern(7, count: 4096 - 100 + 40 * 4096)
    try data.withUnsafeBytes { try mapping.write(at: 99 * 4096 + 100, from: $0) }
    let after = cache.stats
    XCTAssertEqual(after.misses - before.misses, 1, "only the partly written page is read")
    XCTAssertEqual(after.hits, before.hits, "an overwrite is no hit")
    XCTAssertEqual(after.dirtyBytes, 41 * 4096)
    XCTAssertEqual(after.cachedBytes, 41 * 4096)
    XCTAssertEqual(mapping.state(ofPage: 105), [.uptodate, .dirty])
    XCTAssertEqual(mapping.state(ofPage: 139), [.uptodate, .dirty])
    XCTAssertNil(mapping.state(ofPage: 140))
    var back = [UInt8](repeating: 0, count: data.count)
    try back.withUnsafeMutableBytes { try mapping.read(at: 99 * 4096 + 100, into: $0) }
    XCTAssertEqual(back, data)

    let writesBefore = device.stats.writesCompleted
    try mapping.sync()
    XCTAssertEqual(ops.writeRuns, [Array(99..<140)])
    XCTAssertEqual(device.stats.writesCompleted - writesBefore, 1, "one bio for the run")
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertEqual(cache.stats.pagesWritten, 41)
    XCTAssertEqual(mapping.state(ofPage: 120), [.uptodate])
    XCTAssertEqual(try deviceBytes(driver, at: 99 * 4096 + 100, count: data.count), data)
    XCTAssertEqual(
      try deviceBytes(driver, at: 99 * 4096, count: 100), Array(pattern(99, count: 4096)[0..<100]))
  }

  func testFailedScatteredWritebackLeavesThePagesDirty() throws {
    let (device, driver) = try makeRamDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    let ops = ScatteredOps(cache: cache, device: device)
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    let data = pattern(9, count: 8 * 4096)
    try data.withUnsafeBytes { try mapping.write(at: 0, from: $0) }
    driver.failWrites = true
    XCTAssertEqual(errnoOf { try mapping.sync() }, .EIO)
    XCTAssertEqual(cache.stats.dirtyBytes, 8 * 4096)
    XCTAssertEqual(cache.stats.writebackBytes, 0)
    XCTAssertEqual(mapping.state(ofPage: 7), [.uptodate, .dirty])
    driver.failWrites = false
    try mapping.sync()
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertEqual(try deviceBytes(driver, at: 0, count: data.count), data)
  }

  func testWritersDuringScatteredWritebackLoseNothing() throws {
    let (device, driver) = try makeRamDevice()
    // A cache smaller than what is written: writers push it over its bound
    // and write back themselves while others write and sync.
    let cache = PageCache(capacityBytes: 256 << 10)
    let ops = ScatteredOps(cache: cache, device: device)
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    DispatchQueue.concurrentPerform(iterations: 4) { thread in
      for round in 0..<20 {
        // Each thread owns pages thread*64 ..< thread*64+64; the last round wins.
        let data = pattern(thread * 100 + round, count: 64 * 4096)
        data.withUnsafeBytes { try? mapping.write(at: UInt64(thread * 64 * 4096), from: $0) }
        if round % 5 == 0 { try? mapping.sync() }
      }
    }
    try mapping.sync()
    XCTAssertEqual(cache.stats.dirtyBytes, 0)
    XCTAssertEqual(cache.stats.writebackBytes, 0)
    for thread in 0..<4 {
      XCTAssertEqual(
        try deviceBytes(driver, at: UInt64(thread * 64 * 4096), count: 64 * 4096),
        pattern(thread * 100 + 19, count: 64 * 4096), "thread \(thread)'s last write")
    }
  }

  func testPoolHandsAPageOutAgainWithTheLockItWasFreedWith() {
    let pool = PagePool()
    let (page, dataLock) = pool.allocateWithLock()
    dataLock.withLock { _ = memset(page, 0x11, PagePool.pageSize) }
    pool.release(page, dataLock: dataLock)
    let (again, lockAgain) = pool.allocateWithLock()
    XCTAssertEqual(again, page)
    XCTAssertTrue(lockAgain === dataLock, "no new mutex for a reused page")
    lockAgain.lock()  // unlocked, usable
    lockAgain.unlock()
    // A page freed without a lock gets a new one.
    pool.release(again)
    let (third, lockThird) = pool.allocateWithLock()
    XCTAssertEqual(third, page)
    XCTAssertFalse(lockThird === dataLock)
    pool.release(third, dataLock: lockThird)
  }

  func testPageTableFindsSetsAndRemovesPagesAcrossChunks() throws {
    let table = PageTable()
    let (device, _) = try makeRamDevice(blocks: 1)
    let cache = PageCache()
    let owner = AddressSpace(
      cache: cache, ino: 1, operations: OneBufferOps(cache: cache, device: device))
    let indices: [UInt64] = [0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, UInt64.max]
    var entries: [UInt64: CacheEntry] = [:]
    for index in indices {
      let entry = CacheEntry(owner: .page(owner), index: index, size: 512)
      entries[index] = entry
      table[index] = entry
    }
    XCTAssertEqual(table.count, indices.count)
    for index in indices { XCTAssertTrue(table[index] === entries[index], "page \(index)") }
    for index: UInt64 in [2, 62, 66, 129, 999, 1 << 41, UInt64.max - 1] {
      XCTAssertNil(table[index])
    }
    XCTAssertEqual(Set(table.values.map(\.index)), Set(indices))
    // Replacing a page keeps the count; removing one twice removes it once.
    let other = CacheEntry(owner: .page(owner), index: 64, size: 512)
    table[64] = other
    XCTAssertTrue(table[64] === other)
    XCTAssertEqual(table.count, indices.count)
    table[64] = nil
    table[64] = nil
    XCTAssertNil(table[64])
    XCTAssertEqual(table.count, indices.count - 1)
    XCTAssertTrue(table[65] === entries[65], "the rest of the chunk stays")
    // Emptying a chunk drops it; the pages of others stay found.
    for index: UInt64 in [0, 1, 63] { table[index] = nil }
    XCTAssertNil(table[0])
    XCTAssertTrue(table[127] === entries[127])
    table[0] = entries[0]
    XCTAssertTrue(table[0] === entries[0])
    for index in indices { table[index] = nil }
    XCTAssertEqual(table.count, 0)
    XCTAssertEqual(table.values.count, 0)
    XCTAssertNil(table[1000])
  }

  func testDefaultScatteredFormsGoThroughOneBuffer() throws {
    let (device, driver) = try makeRamDevice(blocks: 16)
    let cache = PageCache()
    let ops = OneBufferOps(cache: cache, device: device)
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    XCTAssertFalse(ops.takesScatteredPages)
    let pages = makeBuffers(3)
    defer { free(pages) }
    try ops.readFolios(mapping, index: 4, intoPages: pages)
    XCTAssertEqual(
      pages.flatMap { Array($0) }, try deviceBytes(driver, at: 4 * 4096, count: 3 * 4096))
    for (i, page) in pages.enumerated() {
      pattern(50 + i, count: 4096).withUnsafeBytes { page.copyMemory(from: $0) }
    }
    try ops.writepages(mapping, index: 8, fromPages: pages.map { UnsafeRawBufferPointer($0) })
    XCTAssertEqual(
      try deviceBytes(driver, at: 8 * 4096, count: 3 * 4096), pages.flatMap { Array($0) })
    let short = UnsafeMutableRawBufferPointer(rebasing: pages[0][0..<100])
    XCTAssertEqual(errnoOf { try ops.readFolios(mapping, index: 0, intoPages: [short]) }, .EINVAL)
  }
}
