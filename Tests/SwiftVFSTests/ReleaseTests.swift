import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Freeing long chains of objects must not recurse: the daemon once died of a
/// stack overflow after an unmount, freeing about 100,000 cached dentries one
/// inside another through their LRU links. Each test builds a chain far longer
/// than the 8 MiB stack could unwind recursively, then drops it; before the fix
/// each of these crashed the test process.
final class ReleaseTests: XCTestCase {
  static let million = 1_000_000

  /// Fills a dcache with a million dentries (all on the LRU list, and chained in
  /// the hash table).
  private func filledDcache() -> Dcache {
    let dcache = Dcache(capacity: Self.million * 2)
    for i in 0..<Self.million {
      dcache.add(parentIno: 1, name: try! FileName("n\(i)"), inode: nil)
    }
    XCTAssertEqual(dcache.stats.entries, Self.million)
    XCTAssertEqual(dcache.stats.unused, Self.million)
    return dcache
  }

  func testMillionDentriesAreFreedAtTeardown() {
    weak var gone: Dcache?
    do {
      let dcache = filledDcache()
      gone = dcache
    }
    XCTAssertNil(gone, "the dcache and its million dentries are freed")
  }

  func testMillionDentriesAreFreedByDropCaches() {
    let dcache = filledDcache()
    XCTAssertEqual(dcache.shrink(to: 0), Self.million)
    XCTAssertEqual(dcache.stats.entries, 0)
    XCTAssertEqual(dcache.stats.evictions, UInt64(Self.million))
  }

  func testMillionDentriesAreFreedByEviction() {
    let dcache = filledDcache()
    dcache.capacity = 1
    XCTAssertEqual(dcache.stats.entries, 1)
    dcache.add(parentIno: 2, name: FileName("last"), inode: nil)
    XCTAssertEqual(dcache.stats.entries, 1)
    guard case .negative = dcache.lookup(parentIno: 2, name: FileName("last")) else {
      return XCTFail("the newest entry survives eviction")
    }
  }

  /// A directory tree 200,000 levels deep (a path much longer than PATH_MAX,
  /// which the kernel allows when built one relative step at a time), with
  /// a million dentries cached, freed with the whole VFS.
  func testDeepTreeAndItsDentriesAreFreedAtTeardown() throws {
    weak var gone: VFS?
    weak var deepest: Inode?
    do {
      let h = try MemfsHarness(dcacheCapacity: Self.million * 2)
      var dir = h.root
      for _ in 0..<200_000 {
        dir = try h.dir(dir, "d")
        _ = try? h.vfs.lookup(dir, FileName("missing"))  // a negative dentry
      }
      deepest = dir
      XCTAssertGreaterThanOrEqual(h.vfs.dcache.stats.entries, 200_000)
      gone = h.vfs
    }
    XCTAssertNil(deepest, "the deepest directory is freed")
    XCTAssertNil(gone, "the VFS is freed")
  }

  /// A file of 2^20 4 KiB pages (4 GiB) freed at unlink, then another freed
  /// with the whole VFS.
  func testMillionPagesAreFreedAtUnlinkAndTeardown() throws {
    let pages = 1 << 20
    weak var gone: VFS?
    weak var kept: Inode?
    do {
      let h = try MemfsHarness()
      let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
      let free = h.vfs.statfs(h.root).blocksFree
      for name in ["unlinked", "kept"] {
        let file = try h.file(h.root, name)
        let (fh, open) = try h.vfs.open(file, flags: Int32(O_RDWR), cred: .root)
        for i in 0..<(pages / 256) {
          let n = try chunk.withUnsafeBytes {
            try h.vfs.write(open, from: $0, at: Int64(i) << 20)
          }
          XCTAssertEqual(n, chunk.count)
        }
        h.vfs.release(fh)
        XCTAssertEqual(Memfs.pages(file).pageCount, pages)
        XCTAssertEqual(free - h.vfs.statfs(h.root).blocksFree, UInt64(pages))
        if name == "unlinked" {
          try h.vfs.unlink(h.root, try FileName(name))
          XCTAssertEqual(h.vfs.statfs(h.root).blocksFree, free, "unlink gave the pages back")
        }
        kept = file
      }
      gone = h.vfs
    }
    XCTAssertNil(kept, "the kept file and its pages are freed")
    XCTAssertNil(gone, "the VFS is freed")
  }
}
