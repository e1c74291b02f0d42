import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

final class DcacheTests: MemfsTestCase {
  /// Some real inodes to point dentries at.
  private func inodes(_ n: Int) throws -> [Inode] {
    try (0..<n).map { try h.file(root, "i\($0)") }
  }

  private func names(_ d: Dcache) -> Set<String> {
    Set(d.allEntries().map { "\($0.parentIno)/\($0.name)" })
  }

  func testHitsMissesAndNegativeHitsAreCountedExactly() throws {
    let d = Dcache(capacity: 100)
    let inode = try inodes(1)[0]
    guard case .miss = d.lookup(parentIno: 7, name: "a") else { return XCTFail("want miss") }
    d.add(parentIno: 7, name: "a", inode: inode)
    guard case .positive(let found) = d.lookup(parentIno: 7, name: "a") else {
      return XCTFail("want hit")
    }
    XCTAssertTrue(found === inode)
    d.add(parentIno: 7, name: "b", inode: nil)
    guard case .negative = d.lookup(parentIno: 7, name: "b") else {
      return XCTFail("want negative")
    }
    guard case .negative = d.lookup(parentIno: 7, name: "b") else {
      return XCTFail("want negative")
    }
    // Same name under another parent is another entry.
    guard case .miss = d.lookup(parentIno: 8, name: "a") else { return XCTFail("want miss") }
    let s = d.stats
    XCTAssertEqual(s.lookups, 5)
    XCTAssertEqual(s.hits, 1)
    XCTAssertEqual(s.misses, 2)
    XCTAssertEqual(s.negativeHits, 2)
    XCTAssertEqual(s.entries, 2)
    XCTAssertEqual(s.negative, 1)
    XCTAssertEqual(s.unused, 2)
    XCTAssertEqual(s.evictions, 0)
    XCTAssertEqual(s.capacity, 100)
    d.resetCounters()
    let r = d.stats
    XCTAssertEqual([r.lookups, r.hits, r.misses, r.negativeHits, r.evictions], [0, 0, 0, 0, 0])
    XCTAssertEqual(r.entries, 2, "reset keeps the sizes")
  }

  func testAddReplacesAnEntryInPlace() throws {
    let d = Dcache(capacity: 100)
    let (a, b) = try {
      let i = try inodes(2)
      return (i[0], i[1])
    }()
    d.add(parentIno: 1, name: "x", inode: nil)
    XCTAssertEqual(d.stats.negative, 1)
    d.add(parentIno: 1, name: "x", inode: a)
    XCTAssertEqual(d.stats.entries, 1)
    XCTAssertEqual(d.stats.negative, 0)
    d.add(parentIno: 1, name: "x", inode: b)
    guard case .positive(let found) = d.lookup(parentIno: 1, name: "x") else {
      return XCTFail("want hit")
    }
    XCTAssertTrue(found === b)
    XCTAssertEqual(d.stats.entries, 1)
  }

  func testDeleteLeavesNegativeAndDropForgets() throws {
    let d = Dcache(capacity: 100)
    let inode = try inodes(1)[0]
    d.add(parentIno: 1, name: "x", inode: inode)
    d.delete(parentIno: 1, name: "x")
    guard case .negative = d.lookup(parentIno: 1, name: "x") else {
      return XCTFail("want negative")
    }
    XCTAssertEqual(d.stats.negative, 1)
    XCTAssertEqual(d.stats.entries, 1)
    d.drop(parentIno: 1, name: "x")
    guard case .miss = d.lookup(parentIno: 1, name: "x") else { return XCTFail("want miss") }
    XCTAssertEqual(d.stats.entries, 0)
    XCTAssertEqual(d.stats.negative, 0)
    XCTAssertEqual(d.stats.unused, 0)
    d.drop(parentIno: 1, name: "nothing")  // dropping nothing is harmless
    XCTAssertEqual(d.stats.entries, 0)
  }

  func testLRUEvictsLeastRecentlyUsedFirst() throws {
    let d = Dcache(capacity: 3)
    let i = try inodes(4)
    d.add(parentIno: 1, name: "a", inode: i[0])
    d.add(parentIno: 1, name: "b", inode: i[1])
    d.add(parentIno: 1, name: "c", inode: i[2])
    _ = d.lookup(parentIno: 1, name: "a")  // a is now most recent; b is the oldest
    d.add(parentIno: 1, name: "d", inode: i[3])
    XCTAssertEqual(names(d), ["1/a", "1/c", "1/d"])
    XCTAssertEqual(d.stats.evictions, 1)
    d.add(parentIno: 1, name: "c", inode: i[2])  // re-adding touches c
    d.add(parentIno: 1, name: "e", inode: nil)
    XCTAssertEqual(names(d), ["1/c", "1/d", "1/e"], "a was the least recently used")
    XCTAssertEqual(d.stats.evictions, 2)
    XCTAssertEqual(d.stats.entries, 3)
    XCTAssertEqual(d.stats.unused, 3)
  }

  func testPinnedRootsAreNeverEvicted() throws {
    let d = Dcache(capacity: 2)
    let i = try inodes(3)
    d.add(parentIno: 0, name: .rootKey, inode: root, pinned: true)
    d.add(parentIno: 1, name: "a", inode: i[0])
    d.add(parentIno: 1, name: "b", inode: i[1])
    d.add(parentIno: 1, name: "c", inode: i[2])
    XCTAssertEqual(names(d), ["0//", "1/c"])
    XCTAssertEqual(d.stats.unused, 1, "the pinned root is not on the LRU")
    XCTAssertEqual(d.shrink(to: 0), 1)
    XCTAssertEqual(names(d), ["0//"])
    XCTAssertEqual(d.stats.unused, 0)
    d.capacity = 1
    d.add(parentIno: 0, name: .rootKey, inode: root)  // re-adding unpinned keeps the pin
    XCTAssertEqual(d.shrink(to: 0), 0)
    guard case .positive(let r) = d.lookup(parentIno: 0, name: .rootKey) else {
      return XCTFail("root evicted")
    }
    XCTAssertTrue(r === root)
  }

  func testShrinkReturnsAndCountsEvictions() throws {
    let d = Dcache(capacity: 100)
    for n in 0..<10 { d.add(parentIno: 1, name: try FileName("n\(n)"), inode: nil) }
    XCTAssertEqual(d.shrink(to: 4), 6)
    XCTAssertEqual(d.stats.entries, 4)
    XCTAssertEqual(d.stats.negative, 4)
    XCTAssertEqual(d.stats.evictions, 6)
    XCTAssertEqual(names(d), ["1/n6", "1/n7", "1/n8", "1/n9"], "the newest stay")
    XCTAssertEqual(d.shrink(to: 10), 0)
    XCTAssertEqual(d.shrink(), 4)
    XCTAssertEqual(d.stats.entries, 0)
    XCTAssertEqual(d.stats.evictions, 10)
  }

  func testLoweringCapacityEvictsAtOnce() throws {
    let d = Dcache(capacity: 10)
    for n in 0..<10 { d.add(parentIno: 1, name: try FileName("n\(n)"), inode: nil) }
    XCTAssertEqual(d.stats.entries, 10)
    d.capacity = 4
    XCTAssertEqual(d.stats.entries, 4)
    XCTAssertEqual(d.stats.evictions, 6)
    XCTAssertEqual(d.capacity, 4)
    d.capacity = 0
    XCTAssertEqual(d.capacity, 1, "capacity is at least 1")
    XCTAssertEqual(d.stats.entries, 1)
  }

  func testTableGrowsAndChainsStayShort() throws {
    let d = Dcache(capacity: 1 << 20)
    XCTAssertEqual(d.stats.buckets, 1024)
    for n in 0..<1024 { d.add(parentIno: 5, name: try FileName("f\(n)"), inode: nil) }
    XCTAssertEqual(d.stats.buckets, 1024)
    d.add(parentIno: 5, name: "one-more", inode: nil)
    XCTAssertEqual(d.stats.buckets, 2048)
    for n in 1024..<5000 { d.add(parentIno: 5, name: try FileName("f\(n)"), inode: nil) }
    let s = d.stats
    XCTAssertEqual(s.entries, 5001)
    XCTAssertEqual(s.buckets, 8192)
    XCTAssertGreaterThanOrEqual(s.longestChain, 1)
    XCTAssertLessThanOrEqual(s.longestChain, 12, "a good hash keeps chains short")
    d.resetCounters()
    for n in 0..<5000 {
      guard case .negative = d.lookup(parentIno: 5, name: try FileName("f\(n)")) else {
        return XCTFail("lost f\(n) while growing")
      }
    }
    XCTAssertEqual(d.stats.negativeHits, 5000)
    XCTAssertEqual(d.stats.misses, 0)
  }

  func testManyEntriesUnderCapacityPressureKeepTheNewest() throws {
    let d = Dcache(capacity: 500)
    for n in 0..<3000 { d.add(parentIno: UInt64(n % 7), name: try FileName("f\(n)"), inode: nil) }
    XCTAssertEqual(d.stats.entries, 500)
    XCTAssertEqual(d.stats.evictions, 2500)
    let kept = Set(d.allEntries().map(\.name.description))
    XCTAssertEqual(kept, Set((2500..<3000).map { "f\($0)" }))
  }

  // MARK: - Through the VFS

  func testVFSLookupFillsTheDcacheThenHits() throws {
    let a = try h.file(root, "a")
    vfs.dcache.shrink()
    vfs.dcache.resetCounters()
    let found = try vfs.lookup(root, "a")
    XCTAssertTrue(found === a)
    var s = vfs.dcache.stats
    XCTAssertEqual([s.lookups, s.misses, s.hits, s.negativeHits], [1, 1, 0, 0])
    _ = try vfs.lookup(root, "a")
    s = vfs.dcache.stats
    XCTAssertEqual([s.lookups, s.misses, s.hits, s.negativeHits], [2, 1, 1, 0])
    XCTAssertEqual(vtErrno { _ = try self.vfs.lookup(self.root, "zz") }, .ENOENT)
    XCTAssertEqual(vtErrno { _ = try self.vfs.lookup(self.root, "zz") }, .ENOENT)
    s = vfs.dcache.stats
    XCTAssertEqual([s.lookups, s.misses, s.hits, s.negativeHits], [4, 2, 1, 1])
    XCTAssertEqual(s.negative, 1)
    // "." and ".." never reach the dcache.
    XCTAssertTrue(try vfs.lookup(root, ".") === root)
    XCTAssertEqual(vfs.dcache.stats.lookups, 4)
    vfs.forget(a.ino, count: 2)
    vfs.forget(root.ino, count: 1)
  }

  func testCreateReplacesTheNegativeEntryAndUnlinkLeavesOne() throws {
    XCTAssertEqual(vtErrno { _ = try self.vfs.lookup(self.root, "n") }, .ENOENT)
    XCTAssertEqual(vfs.dcache.stats.negative, 1)
    let n = try h.file(root, "n")
    XCTAssertEqual(vfs.dcache.stats.negative, 0)
    vfs.dcache.resetCounters()
    XCTAssertTrue(try vfs.lookup(root, "n") === n)
    XCTAssertEqual(vfs.dcache.stats.hits, 1, "create instantiated the dentry")
    vfs.forget(n.ino, count: 1)
    try vfs.unlink(root, "n")
    XCTAssertEqual(vtErrno { _ = try self.vfs.lookup(self.root, "n") }, .ENOENT)
    XCTAssertEqual(vfs.dcache.stats.negativeHits, 1, "unlink left a negative dentry")
    XCTAssertEqual(vfs.dcache.stats.misses, 0)
  }

  func testShrunkDcacheStillFindsEverything() throws {
    let d = try h.dir(root, "d")
    for n in 0..<50 { try h.file(d, "f\(n)") }
    vfs.dcache.shrink()
    XCTAssertEqual(vfs.dcache.stats.entries, 1, "only the pinned root is left")
    for n in 0..<50 { XCTAssertNoThrow(try h.walk("d/f\(n)")) }
    XCTAssertEqual(vfs.dcache.stats.entries, 52)
  }

  func testSmallDcacheUnderTheVFSEvictsButNeverLosesNames() throws {
    let small = try MemfsHarness(dcacheCapacity: 16)
    let d = try small.dir(small.root, "d")
    for n in 0..<200 { try small.file(d, "f\(n)") }
    XCTAssertLessThanOrEqual(small.vfs.dcache.stats.entries, 16)
    XCTAssertGreaterThan(small.vfs.dcache.stats.evictions, 180)
    for n in stride(from: 0, to: 200, by: 7) {
      XCTAssertNoThrow(try small.walk("d/f\(n)"), "f\(n)")
    }
    XCTAssertEqual(try small.names(d).count, 200)
    assertConsistent(small.vfs)
  }
}
