// Reading runs of pages on a miss (AddressSpace.read → PageCache.getPages →
// AddressSpaceOperations.readFolios, like page_cache_ra_unbounded() →
// ->readahead): the bytes are right across holes and discontiguous blocks,
// a cold run costs one bio per run of consecutive blocks, a run stops at a
// page already cached, a device error in the middle of a run throws EIO and
// leaves none of the run's pages cached, a file system that does not ask
// for runs is read page by page as before, and on ext2 a fragmented file with a hole
// reads back right while a cold 1 MiB read takes a handful of bios, not 256.
// A direct read (spliceDirect) uses cached pages and caches none it reads.

import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSBlock
@testable import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A RAM disk that fails reads touching a chosen byte range, and counts the
/// reads that reached it.
private final class RangeFailingDriver: BlockDriver, @unchecked Sendable {
  let disk: RamDisk
  private let lock = Lock()
  private var _failing: Range<UInt64>?
  private var _reads = 0

  init(sizeInBytes: UInt64) { disk = RamDisk(sizeInBytes: sizeInBytes) }

  var sizeInBytes: UInt64 { disk.sizeInBytes }
  /// Reads overlapping these device bytes fail with EIO (nil: none fail).
  var failing: Range<UInt64>? {
    get { lock.withLock { _failing } }
    set { lock.withLock { _failing = newValue } }
  }
  var reads: Int { lock.withLock { _reads } }

  func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    let range = offset..<offset + UInt64(buffer.count)
    let fail = lock.withLock { () -> Bool in
      _reads += 1
      return _failing?.overlaps(range) ?? false
    }
    if fail { throw .EIO }
    try disk.read(at: offset, into: buffer)
  }
  func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    try disk.write(at: offset, from: buffer)
  }
  func flush() throws(Errno) {}
}

/// Page operations over 4 KiB blocks with a chosen map: page `i` is device
/// block `map[i]`, a hole when the map says nil, block `i` when absent.
/// It keeps the protocol's defaults: no page runs, readFolio page by page.
private final class MappedOps: AddressSpaceOperations, @unchecked Sendable {
  let cache: PageCache
  let device: BlockDevice
  let map: [UInt64: UInt64?]
  private let lock = Lock()
  private var _folioCalls = 0

  init(cache: PageCache, device: BlockDevice, map: [UInt64: UInt64?] = [:]) {
    self.cache = cache
    self.device = device
    self.map = map
  }

  var folioCalls: Int { lock.withLock { _folioCalls } }

  func block(_ index: UInt64) -> UInt64? {
    if let entry = map[index] { return entry }
    return index
  }

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    lock.withLock { _folioCalls += 1 }
    try cache.readBlocks([block(index)], blockSize: 4096, from: device, into: page)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    try cache.writeBlocks([block(index)], blockSize: 4096, to: device, from: page)
  }
}

/// The same map, with a readFolios of its own: one readBlocks for the run.
private final class MappedRunOps: AddressSpaceOperations, @unchecked Sendable {
  let base: MappedOps
  private let lock = Lock()
  private var _runs: [(UInt64, Int)] = []

  init(_ base: MappedOps) { self.base = base }

  var runs: [(UInt64, Int)] { lock.withLock { _runs } }
  var readsPageRuns: Bool { true }

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try base.readFolio(mapping, index: index, into: page)
  }

  func readFolios(
    _ mapping: AddressSpace, index: UInt64, count: Int, into pages: UnsafeMutableRawBufferPointer
  ) throws(Errno) {
    lock.withLock { _runs.append((index, count)) }
    let blocks = (0..<UInt64(count)).map { base.block(index + $0) }
    try base.cache.readBlocks(blocks, blockSize: 4096, from: base.device, into: pages)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    try base.writepage(mapping, index: index, from: page)
  }
}

/// The bytes of device block `block`: they differ from block to block and within one.
private func blockBytes(_ block: UInt64) -> [UInt8] {
  (0..<4096).map { UInt8(truncatingIfNeeded: Int(block) &* 7 &+ $0 &* 13 &+ ($0 >> 8)) }
}

/// What pages `first..<first + count` should read as under `ops`'s map.
private func expected(_ ops: MappedOps, _ first: UInt64, _ count: Int) -> [UInt8] {
  (0..<UInt64(count)).flatMap { i -> [UInt8] in
    guard let block = ops.block(first + i) else { return [UInt8](repeating: 0, count: 4096) }
    return blockBytes(block)
  }
}

/// Pages `page..<page + count` of `mapping`, read in one call.
private func read(_ mapping: AddressSpace, page: UInt64, count: Int) throws -> [UInt8] {
  var out = [UInt8](repeating: 0xAA, count: count * 4096)
  try out.withUnsafeMutableBytes { try mapping.read(at: page * 4096, into: $0) }
  return out
}

/// A count several threads bump.
private final class Counter: @unchecked Sendable {
  private let lock = Lock()
  private var count = 0
  func add() { lock.withLock { count += 1 } }
  func reset() { lock.withLock { count = 0 } }
  var value: Int { lock.withLock { count } }
}

final class ReadaheadTests: XCTestCase {
  private static let deviceBlocks: UInt64 = 1024

  private func makeDevice() throws -> (RangeFailingDriver, BlockDevice) {
    let driver = RangeFailingDriver(sizeInBytes: ReadaheadTests.deviceBlocks * 4096)
    for block in 0..<ReadaheadTests.deviceBlocks {
      try blockBytes(block).withUnsafeBytes { try driver.disk.write(at: block * 4096, from: $0) }
    }
    let device = try BlockDevice(name: "ram0", dev: DevT(major: 1, minor: 0), driver: driver)
    return (driver, device)
  }

  func testColdMiBIsFourBiosOfSixtyFourPages() throws {
    let (driver, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    let ops = MappedRunOps(MappedOps(cache: cache, device: device))
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    XCTAssertEqual(try read(mapping, page: 0, count: 256), expected(ops.base, 0, 256))
    XCTAssertEqual(driver.reads, 4, "one bio per 64-page run of consecutive blocks")
    XCTAssertEqual(device.stats.readsCompleted, 4)
    XCTAssertEqual(ops.runs.map { $0.0 }, [0, 64, 128, 192])
    XCTAssertEqual(ops.runs.map { $0.1 }, [64, 64, 64, 64])
    XCTAssertEqual(ops.base.folioCalls, 0)
    var stats = cache.stats
    XCTAssertEqual(stats.misses, 256)
    XCTAssertEqual(stats.pagesRead, 256)
    XCTAssertEqual(stats.bytesRead, 256 * 4096)
    XCTAssertEqual(mapping.cachedPageCount, 256)
    XCTAssertEqual(mapping.state(ofPage: 100), [.uptodate])
    // Warm: all hits, no bio; an unaligned range copies the right slice.
    var slice = [UInt8](repeating: 0, count: 10_000)
    try slice.withUnsafeMutableBytes { try mapping.read(at: 3 * 4096 + 100, into: $0) }
    XCTAssertEqual(slice, Array(expected(ops.base, 3, 4)[100..<10_100]))
    XCTAssertEqual(driver.reads, 4)
    stats = cache.stats
    XCTAssertEqual(stats.hits, 3)
  }

  func testRunStopsAtACachedPageAndReadsHolesAndScatteredBlocks() throws {
    let (driver, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    // Pages 0-3 at blocks 500-503, page 4 a hole, pages 5-7 at 10, 11, 12,
    // page 8 at 900, page 9 a hole, the rest at their own index.
    let map: [UInt64: UInt64?] = [
      0: 500, 1: 501, 2: 502, 3: 503, 4: nil, 5: 10, 6: 11, 7: 12, 8: 900, 9: nil,
    ]
    let ops = MappedRunOps(MappedOps(cache: cache, device: device, map: map))
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    XCTAssertEqual(try read(mapping, page: 12, count: 1), expected(ops.base, 12, 1))
    XCTAssertEqual(driver.reads, 1)
    XCTAssertEqual(ops.base.folioCalls, 1, "a single missing page goes through readFolio")
    XCTAssertEqual(try read(mapping, page: 0, count: 16), expected(ops.base, 0, 16))
    XCTAssertEqual(ops.runs.map { $0.0 }, [0, 13])
    XCTAssertEqual(ops.runs.map { $0.1 }, [12, 3])
    // Run 0-11: blocks 500-503, hole, 10-12, 900, hole, 10-11 → 4 bios;
    // run 13-15: blocks 13-15 → 1 bio.
    XCTAssertEqual(driver.reads, 1 + 4 + 1)
    XCTAssertEqual(mapping.cachedPageCount, 16)
  }

  func testDeviceErrorInTheMiddleOfARunThrowsEIOAndCachesNoneOfIt() throws {
    let (driver, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    // Page 20 lies apart, so the run 0..<64 is three bios: 0-19, 20, 21-63.
    let ops = MappedRunOps(MappedOps(cache: cache, device: device, map: [20: 700]))
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    driver.failing = 700 * 4096..<701 * 4096
    var out = [UInt8](repeating: 0, count: 64 * 4096)
    XCTAssertThrowsError(try out.withUnsafeMutableBytes { try mapping.read(at: 0, into: $0) }) {
      XCTAssertEqual($0 as? Errno, .EIO)
    }
    XCTAssertEqual(driver.reads, 2, "the first bio went through, the second failed")
    XCTAssertEqual(mapping.cachedPageCount, 0, "no page of the failed run stays cached")
    for page: UInt64 in [0, 19, 20, 21, 63] { XCTAssertNil(mapping.state(ofPage: page)) }
    XCTAssertEqual(cache.stats.cachedBytes, 0)
    XCTAssertEqual(cache.stats.pagesRead, 0)
    // The pages before a failed run stay cached.
    XCTAssertEqual(try read(mapping, page: 64, count: 4), expected(ops.base, 64, 4))
    XCTAssertThrowsError(try read(mapping, page: 18, count: 4)) {
      XCTAssertEqual($0 as? Errno, .EIO)
    }
    XCTAssertEqual(mapping.cachedPageCount, 4)
    // Once the device reads again, the same range reads right.
    driver.failing = nil
    XCTAssertEqual(try read(mapping, page: 0, count: 64), expected(ops.base, 0, 64))
    XCTAssertEqual(mapping.cachedPageCount, 68)
  }

  /// A direct read (O_DIRECT, `spliceDirect`) takes the cached pages, a
  /// dirty one included, reads the missing ones in runs from the disk and
  /// caches none of them; a failed run throws EIO and leaves the cache as
  /// it was.
  func testDirectSpliceReadsAroundTheCacheAndUsesCachedPages() throws {
    let (driver, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    // Page 4 a hole, page 9 apart at block 700.
    let ops = MappedRunOps(MappedOps(cache: cache, device: device, map: [4: nil, 9: 700]))
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    // Pages 2 and 3 cached clean; page 6 written over, dirty, not written back.
    _ = try read(mapping, page: 2, count: 2)
    let fresh = [UInt8](repeating: 0x5A, count: 4096)
    try fresh.withUnsafeBytes { try mapping.write(at: 6 * 4096, from: $0) }
    let before = cache.stats
    let readsBefore = driver.reads

    func direct(at offset: UInt64, count: Int) throws -> [UInt8] {
      var out: [UInt8] = []
      try mapping.spliceDirect(at: offset, count: count) { slices in
        for slice in slices { out.append(contentsOf: slice) }
      }
      return out
    }
    // Pages 1-10, from the middle of page 1 to the middle of page 10.
    let got = try direct(at: 4096 + 100, count: 9 * 4096)
    var want = expected(ops.base, 1, 10)
    want.replaceSubrange(5 * 4096..<6 * 4096, with: fresh)
    XCTAssertEqual(got, Array(want[100..<100 + 9 * 4096]))
    XCTAssertEqual(mapping.cachedPageCount, 3, "nothing read for the direct read stays cached")
    XCTAssertEqual(mapping.state(ofPage: 6), [.uptodate, .dirty])
    let after = cache.stats
    XCTAssertEqual(after.cachedBytes, before.cachedBytes)
    XCTAssertEqual(after.hits - before.hits, 3, "pages 2, 3 and 6 came from the cache")
    XCTAssertEqual(after.misses, before.misses)
    XCTAssertEqual(after.pagesRead, before.pagesRead)
    XCTAssertEqual(ops.runs.suffix(3).map { $0.0 }, [1, 4, 7], "runs 1, 4-5, 7-10")
    // Run 1: one bio; 4-5: the hole and block 5; 7-10: blocks 7-8, 700, 10.
    XCTAssertEqual(driver.reads - readsBefore, 1 + 1 + 3)

    // A failure in a run throws EIO and caches nothing.
    driver.failing = 700 * 4096..<701 * 4096
    XCTAssertThrowsError(try direct(at: 8 * 4096, count: 2 * 4096)) {
      XCTAssertEqual($0 as? Errno, .EIO)
    }
    XCTAssertEqual(mapping.cachedPageCount, 3)
    driver.failing = nil
    // More than the thread's 256 KiB buffer misses: a buffer of its own.
    XCTAssertEqual(try direct(at: 100 * 4096, count: 200 * 4096), expected(ops.base, 100, 200))
    XCTAssertEqual(mapping.cachedPageCount, 3)
    XCTAssertEqual(try direct(at: 0, count: 0), [])
    XCTAssertThrowsError(try direct(at: UInt64.max - 10, count: 100)) {
      XCTAssertEqual($0 as? Errno, .EINVAL)
    }
  }

  func testFileSystemWithoutReadFoliosIsReadPageByPage() throws {
    let (driver, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 16 << 20)
    let ops = MappedOps(cache: cache, device: device, map: [3: nil])
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    XCTAssertEqual(try read(mapping, page: 0, count: 10), expected(ops, 0, 10))
    XCTAssertEqual(ops.folioCalls, 10)
    XCTAssertEqual(driver.reads, 9, "one bio per mapped page, none for the hole")
    XCTAssertEqual(cache.stats.misses, 10)
  }

  func testReadersOfOverlappingRangesSeeTheRightBytes() throws {
    let (_, device) = try makeDevice()
    let cache = PageCache(capacityBytes: 2 << 20)  // smaller than the file: pages come and go
    let ops = MappedRunOps(MappedOps(cache: cache, device: device, map: [5: 600, 70: nil]))
    let mapping = AddressSpace(cache: cache, ino: 1, operations: ops)
    let failures = Counter()
    DispatchQueue.concurrentPerform(iterations: 8) { thread in
      var generator = SeededGenerator(state: UInt64(thread + 1))
      for _ in 0..<25 {
        let first = UInt64(generator.below(900))
        let count = 1 + generator.below(100)
        if (try? read(mapping, page: first, count: count)) != expected(ops.base, first, count) {
          failures.add()
        }
      }
    }
    XCTAssertEqual(failures.value, 0)
  }

  // MARK: - ext2

  private func ext2Image(_ directory: String) throws -> String {
    let image = directory + "/ra.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "4096", image, "32M"])
    XCTAssertEqual(status, 0, output)
    return image
  }

  private func ext2Mount(_ image: String) throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: "source=\(image)"))
    return vfs
  }

  private func pattern(_ seed: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 11) ^ seed) }
  }

  func testExt2FragmentedFileWithAHoleReadsRightInBigRuns() throws {
    let scratch = try ScratchDirectory("swiftvfs-ra")
    defer { try? scratch.remove() }
    let image = try ext2Image(scratch.path)
    var vfs = try ext2Mount(image)
    // Two files written in turns, 8 KiB at a time, so their blocks interleave;
    // "a" skips 64 KiB in the middle (a hole). "big" is 1 MiB in one write.
    var a: [UInt8] = []
    var b: [UInt8] = []
    do {
      let (_, fhA, fileA) = try vfs.create(
        vfs.root, FileName("a"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      let (_, fhB, fileB) = try vfs.create(
        vfs.root, FileName("b"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      defer {
        vfs.release(fhA)
        vfs.release(fhB)
      }
      for step in 0..<48 {
        if (20..<28).contains(step) {
          a += [UInt8](repeating: 0, count: 8192)
        } else {
          let chunk = pattern(step, count: 8192)
          _ = try chunk.withUnsafeBytes { try vfs.write(fileA, from: $0, at: Int64(a.count)) }
          a += chunk
        }
        let other = pattern(1000 + step, count: 8192)
        _ = try other.withUnsafeBytes { try vfs.write(fileB, from: $0, at: Int64(b.count)) }
        b += other
      }
      let (_, fhBig, fileBig) = try vfs.create(
        vfs.root, FileName("big"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      defer { vfs.release(fhBig) }
      let big = pattern(7, count: 1 << 20)
      _ = try big.withUnsafeBytes { try vfs.write(fileBig, from: $0, at: 0) }
    }
    vfs.unmountAll()

    vfs = try ext2Mount(image)
    defer { vfs.unmountAll() }
    let reads = Counter()
    PageCache.of(vfs).traceHook = { event in
      if case .bio(.read, _, _, _) = event { reads.add() }
    }
    let inodeA = try vfs.lookup(vfs.root, FileName("a"))
    let inodeB = try vfs.lookup(vfs.root, FileName("b"))
    let inodeBig = try vfs.lookup(vfs.root, FileName("big"))
    XCTAssertEqual(try readBytes(vfs, inodeA, at: 0, count: a.count), a)
    XCTAssertEqual(try readBytes(vfs, inodeB, at: 0, count: b.count), b)
    // An unaligned range in the middle, across the hole's edges.
    XCTAssertEqual(
      try readBytes(vfs, inodeA, at: 150_001, count: 100_000), Array(a[150_001..<250_001]))
    reads.reset()
    XCTAssertEqual(try readBytes(vfs, inodeBig, at: 0, count: 1 << 20), pattern(7, count: 1 << 20))
    // Four 64-page runs, plus the indirect block; page by page it was 256.
    let bios = reads.value
    XCTAssertGreaterThanOrEqual(bios, 4)
    XCTAssertLessThanOrEqual(bios, 8, "a cold 1 MiB read is a handful of bios")
    PageCache.of(vfs).traceHook = nil
  }
}
