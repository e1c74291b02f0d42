import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// The dcache counters in /proc move by exactly what a series of lookups
/// implies; the bound evicts; drop_caches empties the LRU and loses nothing.
final class ProcDcacheTests: XCTestCase {
  /// The proc files used, looked up once: reading them by inode afterwards
  /// makes no lookups, so only the series under test moves the counters.
  struct Files {
    let dcache: Inode
    let dentryState: Inode
    let dropCaches: Inode
    let dcacheMax: Inode
    let reset: Inode

    init(_ h: ProcHarness) throws {
      dcache = try h.inode("proc/vfs/dcache")
      dentryState = try h.inode("proc/sys/fs/dentry-state")
      dropCaches = try h.inode("proc/sys/vm/drop_caches")
      dcacheMax = try h.inode("proc/sys/fs/dcache-max")
      reset = try h.inode("proc/vfs/reset")
    }
  }

  func counters(_ h: ProcHarness, _ f: Files) throws -> [String: Int] {
    // longest_chain moves with the hash seed, not with the series.
    try h.dcacheReport(f.dcache).compactMapValues { Int($0) }.filter { $0.key != "longest_chain" }
  }

  func delta(_ a: [String: Int], _ b: [String: Int]) -> [String: Int] {
    b.merging(a) { $0 - $1 }.filter { $0.value != 0 }
  }

  func testLookupSeriesMovesCountersExactly() throws {
    let h = try ProcHarness()
    let f = try Files(h)
    try h.makeFile("a")
    try h.write(f.dropCaches, "2")  // start from an empty LRU: "a" is not cached
    try h.write(f.reset, "1")
    let before = try counters(h, f)
    XCTAssertEqual(before["unused"], 0)

    let a1 = try h.vfs.lookup(h.vfs.root, "a")  // miss: read from the directory
    let a2 = try h.vfs.lookup(h.vfs.root, "a")  // hit
    assertProcErrno(.ENOENT, try h.vfs.lookup(h.vfs.root, "nope"))  // miss: negative entry
    assertProcErrno(.ENOENT, try h.vfs.lookup(h.vfs.root, "nope"))  // negative hit
    XCTAssertTrue(a1 === a2)
    h.vfs.forget(a1.ino, count: 2)

    let after = try counters(h, f)
    XCTAssertEqual(
      delta(before, after),
      [
        "lookups": 4, "hits": 1, "misses": 2, "negative_hits": 1, "entries": 2, "unused": 2,
        "negative": 1,
      ])
    XCTAssertEqual(try h.dcacheReport(f.dcache)["hit_ratio"], "50.0%")

    // dentry-state shows the same sizes, kernel style.
    let state = try XCTUnwrap(tabbedIntegers(try h.read(f.dentryState)))
    XCTAssertEqual(state[0], after["entries"])
    XCTAssertEqual(state[1], after["unused"])
    XCTAssertEqual(state[4], after["negative"])

    // Creating the missing name turns its negative entry positive.
    try h.makeFile("nope")
    let created = try counters(h, f)
    XCTAssertEqual(created["negative"], after["negative"]! - 1)
    XCTAssertEqual(created["entries"], after["entries"])
  }

  func testResetZeroesCountersNotSizes() throws {
    let h = try ProcHarness()
    let f = try Files(h)
    _ = try? h.vfs.lookup(h.vfs.root, "missing")
    try h.write(f.reset, "1\n")
    let c = try counters(h, f)
    for key in ["lookups", "hits", "misses", "negative_hits", "evictions"] {
      XCTAssertEqual(c[key], 0, key)
    }
    XCTAssertEqual(c["entries"], h.vfs.dcache.stats.entries)
    XCTAssertGreaterThan(c["entries"]!, 0)
    XCTAssertEqual(try h.dcacheReport(f.dcache)["hit_ratio"], "-")
  }

  func testBoundEvictsLeastRecentlyUsed() throws {
    let h = try ProcHarness()
    let f = try Files(h)
    try h.write(f.dropCaches, "3")
    let start = try counters(h, f)
    let pinned = start["entries"]!  // superblock roots: never on the LRU
    XCTAssertEqual(start["unused"], 0)

    try h.write(f.dcacheMax, "8")
    XCTAssertEqual(try h.read(f.dcacheMax), "8\n")
    for i in 0..<20 { try h.makeFile("f\(i)", "data \(i)") }
    let full = try counters(h, f)
    XCTAssertEqual(full["capacity"], 8)
    XCTAssertEqual(full["entries"], 8)
    XCTAssertEqual(full["unused"], 8 - pinned)
    XCTAssertEqual(full["evictions"]! - start["evictions"]!, pinned + 20 - 8)

    // The newest names are cached, the oldest were evicted; all still resolve.
    let before = try counters(h, f)
    let newest = try h.vfs.lookup(h.vfs.root, "f19")
    let oldest = try h.vfs.lookup(h.vfs.root, "f0")
    h.vfs.forget(newest.ino, count: 1)
    h.vfs.forget(oldest.ino, count: 1)
    let d = delta(before, try counters(h, f))
    XCTAssertEqual(d["hits"], 1)
    XCTAssertEqual(d["misses"], 1)
    XCTAssertEqual(d["evictions"], 1)  // f0 came back in, the LRU's tail went
    XCTAssertEqual(try h.read(oldest), "data 0")

    // Raising the bound keeps what is there.
    try h.write(f.dcacheMax, "1000")
    XCTAssertEqual(try counters(h, f)["entries"], 8)
  }

  func testDropCachesEmptiesTheLRUAndLosesNothing() throws {
    let h = try ProcHarness()
    let f = try Files(h)
    let dir = try h.vfs.mkdir(h.vfs.root, "d", mode: 0o755, cred: .root)
    defer { h.vfs.forget(dir.ino, count: 1) }
    for i in 0..<10 {
      let (inode, fh, file) = try h.vfs.create(
        dir, try FileName("x\(i)"), mode: 0o644, flags: O_RDWR, cred: .root)
      _ = try Array("payload \(i)".utf8).withUnsafeBytes { b throws(Errno) in
        try h.vfs.write(file, from: b, at: 0)
      }
      h.vfs.release(fh)
      h.vfs.forget(inode.ino, count: 1)
    }
    _ = try? h.vfs.lookup(dir, "ghost")
    let full = try counters(h, f)
    XCTAssertGreaterThanOrEqual(full["unused"]!, 12)
    XCTAssertGreaterThanOrEqual(full["negative"]!, 1)

    try h.write(f.dropCaches, "1")  // page cache only: the dcache stays
    XCTAssertEqual(try counters(h, f)["unused"], full["unused"])

    try h.write(f.dropCaches, "2")
    let dropped = try counters(h, f)
    XCTAssertEqual(dropped["unused"], 0)
    XCTAssertEqual(dropped["negative"], 0)
    XCTAssertEqual(dropped["entries"], full["entries"]! - full["unused"]!)
    XCTAssertEqual(dropped["evictions"]! - full["evictions"]!, full["unused"])

    // Every file is still there, with its data: the next lookups miss and find it.
    for i in 0..<10 {
      let inode = try h.vfs.lookup(dir, try FileName("x\(i)"))
      XCTAssertEqual(try h.read(inode), "payload \(i)")
      h.vfs.forget(inode.ino, count: 1)
    }
    let refilled = delta(dropped, try counters(h, f))
    XCTAssertEqual(refilled["misses"], 10)
    XCTAssertNil(refilled["hits"])

    try h.write(f.dropCaches, "3")
    XCTAssertEqual(try counters(h, f)["unused"], 0)
    try h.write(f.dropCaches, "4")  // the kernel's "quiet" bit: taken, does nothing
  }

  func testDcacheMaxMountOption() throws {
    var options = MountOptions()
    options.set("dcache_max", "100")
    let h = try ProcHarness(options: options)
    XCTAssertEqual(try h.read("proc/sys/fs/dcache-max"), "100\n")
  }
}
